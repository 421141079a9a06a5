#include "api/http_server.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "api/json_writer.h"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "outboxd/thread_name.h"

namespace outboxd {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Shared by the server, its listener and every session, so a session kept
// alive by a late responder (e.g. a TestIntegration callback) still has an
// io_context to release its socket into.
struct HttpServer::State {
  State(const HttpServerOptions& o, RequestHandler* h)
      : options(o),
        handler(h),
        ioc(o.io_threads < 1 ? 1 : o.io_threads),
        work(net::make_work_guard(ioc)) {}

  const HttpServerOptions options;
  RequestHandler* const handler;
  net::io_context ioc;
  // Keeps the I/O threads running while a session waits for its handler
  // with no operation pending; released by Stop once everything is closed.
  net::executor_work_guard<net::io_context::executor_type> work;
  std::atomic<bool> stopping{false};

  Mutex mu;
  int in_flight ABSL_GUARDED_BY(mu) = 0;  // requests read, response not yet written
  absl::flat_hash_map<Session*, std::weak_ptr<Session>> sessions ABSL_GUARDED_BY(mu);
  bool accepting_responses ABSL_GUARDED_BY(mu) = true;  // false once the threads stop
};

namespace {

http::response<http::string_body> ToBeast(Response response, unsigned version,
                                          bool keep_alive) {
  http::response<http::string_body> res;
  res.version(version);
  res.result(static_cast<unsigned>(response.status));
  res.set(http::field::server, "outboxd");
  const bool no_body = response.status == 204 || response.status == 304;
  if (!no_body && !response.content_type.empty()) {
    res.set(http::field::content_type, response.content_type);
  }
  for (auto& [name, value] : response.headers) res.set(name, value);
  if (!no_body) res.body() = std::move(response.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

Response ErrorResponse(int status, std::string_view message) {
  JsonWriter w;
  w.BeginObject().Key("error").String(message).EndObject();
  Response r;
  r.status = status;
  r.body = std::move(w).Take();
  return r;
}

// Bodies above this size are read straight into the request's string, with
// the socket's low-water mark raised to min(the rest, kBodyLowWaterBytes).
constexpr uint64_t kSmallBodyBytes = 4096;
constexpr int kBodyLowWaterBytes = 256 * 1024;
// Beast reads at most the read buffer's free capacity (at least 512 bytes)
// at a time, and its parser drains the buffer into the body after every
// read, so a buffer left to grow on demand stays near 1 KiB: a 350 KB
// chunked body took ~680 reads. Before Beast reads a body, the buffer is
// reserved to this for a chunked one (Beast reads at most 64 KiB at a time
// anyway) and to kSmallBodyBytes for a small one, once per connection.
constexpr size_t kChunkedReadBytes = 64 * 1024;

bool IsHttpParseError(const beast::error_code& ec) {
  return ec.category() ==
         beast::http::make_error_code(http::error::bad_target).category();
}

}  // namespace

class HttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<State> state)
      : state_(std::move(state)), stream_(std::move(socket)) {}

  ~Session() {
    MutexLock lock(&state_->mu);
    state_->sessions.erase(this);
  }

  void Start() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::Begin, shared_from_this()));
  }

  // Both run on the session's strand (posted by Stop).
  void CloseIfIdle() {
    if (!busy_) Close();
  }
  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  void Post(void (Session::*fn)()) {
    net::post(stream_.get_executor(), beast::bind_front_handler(fn, shared_from_this()));
  }

 private:
  void Begin() {
    {
      MutexLock lock(&state_->mu);
      state_->sessions[this] = weak_from_this();
    }
    ReadHeader();
  }

  void ReadHeader() {
    if (state_->stopping.load()) return Close();
    parser_.emplace();
    parser_->body_limit(state_->options.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(state_->options.max_header_bytes));
    stream_.expires_after(state_->options.read_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    const auto& header = parser_->get();
    if (beast::iequals(header[http::field::expect], "100-continue")) {
      continue_.version(header.version());
      continue_.result(http::status::continue_);
      return http::async_write(
          stream_, continue_,
          beast::bind_front_handler(&Session::OnContinue, shared_from_this()));
    }
    ReadBody();
  }

  void OnContinue(beast::error_code ec, size_t) {
    if (ec) return Close();
    ReadBody();
  }

  void ReadBody() {
    const auto length = parser_->content_length();
    if (length && *length > kSmallBodyBytes && !parser_->chunked()) {
      return ReadLargeBody(static_cast<size_t>(*length));
    }
    buffer_.reserve(parser_->chunked() ? kChunkedReadBytes : kSmallBodyBytes);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  // A large body of known length, read without Beast's parser: Beast would
  // read it in pieces of at most 64 KiB into buffer_, then copy each into
  // the string, and an ingest body of ~600 KB woke this thread a dozen
  // times. Here the kernel copies straight into the string, and with
  // SO_RCVLOWAT it signals the socket readable only once min(the rest,
  // 256 KiB) has arrived (the header limit already bounds the length).
  void ReadLargeBody(size_t length) {
    // Beast has already checked the length against the limit; a body
    // string is never allocated past it, whatever the parser does.
    if (length > state_->options.max_body_bytes)
      return OnReadError(http::error::body_limit);
    body_.clear();
    body_.resize(length);
    // What arrived with the header; a pipelined request after it stays.
    const size_t have = net::buffer_copy(net::buffer(body_), buffer_.data());
    buffer_.consume(have);
    body_read_ = have;
    ContinueLargeBody();
  }

  void ContinueLargeBody() {
    const size_t left = body_.size() - body_read_;
    if (left == 0) {
      SetLowWater(1);
      return HandleRequest(parser_->get(), std::move(body_));
    }
    SetLowWater(static_cast<int>(std::min<size_t>(left, kBodyLowWaterBytes)));
    stream_.async_read_some(
        net::buffer(body_.data() + body_read_, left),
        beast::bind_front_handler(&Session::OnLargeBodyPart, shared_from_this()));
  }

  void OnLargeBodyPart(beast::error_code ec, size_t n) {
    if (ec) {
      SetLowWater(1);
      // The peer closed mid-body, or the read timed out: nobody to answer.
      return Close();
    }
    body_read_ += n;
    ContinueLargeBody();
  }

  // Best effort: without it, reads wake up more often, nothing else.
  void SetLowWater(int bytes) {
    if (bytes == low_water_) return;
    beast::error_code ec;
    stream_.socket().set_option(net::socket_base::receive_low_watermark(bytes), ec);
    low_water_ = ec ? -1 : bytes;
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return Answer(
          ErrorResponse(413, absl::StrCat("body is larger than ",
                                          state_->options.max_body_bytes, " bytes")),
          /*close=*/true);
    }
    if (ec == http::error::header_limit) {
      return Answer(ErrorResponse(431, "request header is too large"), /*close=*/true);
    }
    if (IsHttpParseError(ec) && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      return Answer(ErrorResponse(400, "malformed HTTP request"), /*close=*/true);
    }
    Close();  // end of stream, timeout, reset: nobody to answer
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    http::request<http::string_body> req = parser_->release();
    HandleRequest(req, std::move(req.body()));
  }

  void HandleRequest(const http::request<http::string_body>& header, std::string body) {
    version_ = header.version();
    keep_alive_ = header.keep_alive();
    BeginRequest();
    Request request;
    request.method = std::string(header.method_string());
    request.target = std::string(header.target());
    request.content_type = std::string(header[http::field::content_type]);
    request.content_encoding = std::string(header[http::field::content_encoding]);
    request.authorization = std::string(header[http::field::authorization]);
    request.body = std::move(body);
    state_->handler->Handle(std::move(request), MakeResponder());
  }

  void BeginRequest() {
    busy_ = true;
    responded_ = false;
    MutexLock lock(&state_->mu);
    ++state_->in_flight;
  }

  // Hands the response to the strand, unless the server has stopped.
  Responder MakeResponder() {
    return [self = shared_from_this()](Response response) {
      MutexLock lock(&self->state_->mu);
      if (!self->state_->accepting_responses) return;
      net::post(self->stream_.get_executor(),
                [self, response = std::move(response)]() mutable {
                  self->Write(std::move(response), /*close=*/false);
                });
    };
  }

  // A response produced here, not by the handler.
  void Answer(Response response, bool close) {
    if (parser_.has_value() && parser_->is_header_done())
      version_ = parser_->get().version();
    BeginRequest();
    Write(std::move(response), close);
  }

  void Write(Response response, bool close) {
    if (responded_) return;  // a second answer to one request is a handler bug: drop it
    responded_ = true;
    close = close || !keep_alive_ || state_->stopping.load();
    response_ = ToBeast(std::move(response), version_, !close);
    stream_.expires_after(state_->options.write_timeout);
    http::async_write(
        stream_, response_,
        beast::bind_front_handler(&Session::OnWrite, shared_from_this(), close));
  }

  void OnWrite(bool close, beast::error_code ec, size_t) {
    busy_ = false;
    {
      MutexLock lock(&state_->mu);
      --state_->in_flight;
    }
    response_ = {};
    if (ec) return Close();
    if (close) return Linger();
    ReadHeader();
  }

  // Half-closes, then discards what the client still sends until it closes
  // too, so it reads our answer instead of a connection reset.
  void Linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Close();
    stream_.expires_after(state_->options.linger_timeout);
    Drain();
  }

  void Drain() {
    stream_.async_read_some(
        net::buffer(drain_),
        beast::bind_front_handler(&Session::OnDrain, shared_from_this()));
  }

  void OnDrain(beast::error_code ec, size_t) {
    if (ec) return Close();
    Drain();
  }

  // Declared first: destroyed last, after the stream that needs its io_context.
  std::shared_ptr<State> state_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::empty_body> continue_;
  http::response<http::string_body> response_;
  std::string body_;      // a large body being read (ReadLargeBody)
  size_t body_read_ = 0;  // bytes of body_ read so far
  int low_water_ = 1;     // the socket's SO_RCVLOWAT (-1: unknown)
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool busy_ = false;       // a request is being handled or answered
  bool responded_ = false;  // its response has been handed to Write
  char drain_[4096];
};

class HttpServer::Listener : public std::enable_shared_from_this<Listener> {
 public:
  explicit Listener(std::shared_ptr<State> state)
      : state_(std::move(state)),
        strand_(net::make_strand(state_->ioc)),
        acceptor_(strand_),
        retry_timer_(strand_) {}

  absl::StatusOr<uint16_t> Open(const tcp::endpoint& endpoint) {
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ",
                                                 endpoint.address().to_string(), ":",
                                                 endpoint.port(), ": ", ec.message()));
    }
    const uint16_t port = acceptor_.local_endpoint(ec).port();
    if (ec) return absl::InternalError(ec.message());
    return port;
  }

  void Start() {
    net::dispatch(strand_,
                  beast::bind_front_handler(&Listener::Accept, shared_from_this()));
  }

  void Close() {
    net::post(strand_, [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor_.close(ec);
      self->retry_timer_.cancel();
    });
  }

 private:
  void Accept() {
    if (!acceptor_.is_open()) return;
    acceptor_.async_accept(
        net::make_strand(state_->ioc),
        beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
  }

  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open() || ec == net::error::operation_aborted) return;
    if (ec) {
      // E.g. out of file descriptors: back off instead of spinning.
      retry_timer_.expires_after(std::chrono::milliseconds(100));
      retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
        if (!wait_ec) self->Accept();
      });
      return;
    }
    std::make_shared<Session>(std::move(socket), state_)->Start();
    Accept();
  }

  std::shared_ptr<State> state_;
  net::strand<net::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpServerOptions& options, RequestHandler* handler) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->state_ = std::make_shared<State>(options, handler);
  beast::error_code ec;
  tcp::resolver resolver(server->state_->ioc);
  const auto endpoints =
      resolver.resolve(options.host, std::to_string(options.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve listen address ", options.host, ": ", ec.message()));
  }
  server->listener_ = std::make_shared<Listener>(server->state_);
  absl::StatusOr<uint16_t> port = server->listener_->Open(endpoints.begin()->endpoint());
  if (!port.ok()) return port.status();
  server->port_ = *port;
  server->listener_->Start();
  const int threads = options.io_threads < 1 ? 1 : options.io_threads;
  for (int i = 0; i < threads; ++i) {
    server->threads_.emplace_back([state = server->state_, i] {
      NameThisThread("http", i);
      state->ioc.run();
    });
  }
  return server;
}

HttpServer::~HttpServer() { Stop(std::chrono::milliseconds(0)); }

void HttpServer::Stop(std::chrono::milliseconds grace) {
  {
    MutexLock lock(&stop_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  // Start failed before any thread ran: nothing is open, nothing to post.
  if (threads_.empty()) return;
  State& state = *state_;
  state.stopping.store(true);
  listener_->Close();
  auto for_each_session = [&state](void (Session::*fn)()) {
    std::vector<std::weak_ptr<Session>> sessions;
    {
      MutexLock lock(&state.mu);
      for (const auto& [ptr, weak] : state.sessions) sessions.push_back(weak);
    }
    for (const std::weak_ptr<Session>& weak : sessions) {
      if (std::shared_ptr<Session> session = weak.lock()) session->Post(fn);
    }
  };
  for_each_session(&Session::CloseIfIdle);
  {
    MutexLock lock(&state.mu);
    state.mu.AwaitWithTimeout([&state]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                                  state.mu) { return state.in_flight == 0; },
                              grace);
    state.accepting_responses = false;
  }
  // Whatever is still open is closed now; with no socket, timer or
  // acceptor left, every I/O thread runs out of work and returns.
  for_each_session(&Session::Close);
  state.work.reset();
  for (std::thread& t : threads_) t.join();
}

}  // namespace outboxd
