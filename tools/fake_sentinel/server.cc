#include "server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <iostream>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "stats.h"

namespace outboxd::fake_sentinel {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using ErrorCode = beast::error_code;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr auto kIdleTimeout = std::chrono::minutes(5);
constexpr auto kIoTimeout = std::chrono::seconds(30);
constexpr auto kFlushInterval = std::chrono::milliseconds(100);
constexpr size_t kHeaderLimit = 64 * 1024;
// Beast reads at most the read buffer's free capacity (and at least 512
// bytes) at a time. Left to grow on demand, the buffer stays near 1 KiB
// because the parser drains it into the body, so a 16 KiB TLS record was
// taken in ~30 SSL_read calls, each completing through the io_context
// (docs/performance.md, "the receiver's read buffer and allocator").
// Reserved once per connection; its pages become resident only as large
// bodies use them.
constexpr size_t kReadBufferBytes = 64 * 1024;

std::string_view Sv(beast::string_view s) { return {s.data(), s.size()}; }

Response MakeResponse(const Request& request, int status, std::string body) {
  Response response;
  response.version(request.version());
  response.result(static_cast<unsigned>(status));
  response.set(http::field::server, "fake_sentinel");
  if (!body.empty()) response.set(http::field::content_type, "application/json");
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

std::string_view FailureCode(int status) {
  switch (status) {
    case 429:
      return "TooManyRequests";
    case 500:
      return "UnspecifiedError";
    case 503:
      return "ServiceUnavailable";
    default:
      return "InjectedFailure";
  }
}

DcrRequest DcrView(const Request& r) {
  DcrRequest view;
  view.method = Sv(r.method_string());
  view.target = Sv(r.target());
  view.authorization = Sv(r[http::field::authorization]);
  view.content_type = Sv(r[http::field::content_type]);
  view.content_encoding = Sv(r[http::field::content_encoding]);
  view.body = r.body();
  return view;
}

Response MakeDcrResponse(const Request& request, const DcrAnswer& answer) {
  Response response = MakeResponse(request, answer.status, answer.body);
  if (!answer.ok()) response.set("x-ms-error-code", answer.code);
  return response;
}

LogsRequest View(const Request& r) {
  LogsRequest view;
  view.method = Sv(r.method_string());
  view.target = Sv(r.target());
  view.host = Sv(r[http::field::host]);
  view.authorization = Sv(r[http::field::authorization]);
  view.date = Sv(r["x-ms-date"]);
  view.content_type = Sv(r[http::field::content_type]);
  view.log_type = Sv(r["Log-Type"]);
  view.body = r.body();
  return view;
}

}  // namespace

struct Server::State {
  State(Clock* clock_in, WorkspaceKeys keys_in, FaultConfig fault_config,
        uint64_t fault_seed, std::unique_ptr<RecordWriter> writer_in, DcrConfig dcr_config)
      : clock(clock_in),
        started_ms(clock_in->NowMs()),
        keys(std::move(keys_in)),
        faults(fault_config, fault_seed),
        dcr(std::move(dcr_config), fault_seed),
        writer(std::move(writer_in)) {
    gate.SetThreshold(fault_config.gate);
  }

  Clock* const clock;
  const TimeMs started_ms;
  const WorkspaceKeys keys;
  Faults faults;
  DcrService dcr;
  Gate gate;
  Stats stats;
  std::unique_ptr<RecordWriter> writer;
  std::unique_ptr<asio::ssl::context> tls;  // null: plain HTTP
};

namespace {

// One connection: read a request, maybe wait, answer, repeat (keep-alive).
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <typename... StreamArgs>
  explicit Session(std::shared_ptr<Server::State> state, StreamArgs&&... args)
      : state_(std::move(state)),
        stream_(std::forward<StreamArgs>(args)...),
        timer_(stream_.get_executor()) {
    buffer_.reserve(kReadBufferBytes);
    state_->stats.ConnectionOpened();
  }

  ~Session() {
    FinishLogs(0);
    state_->stats.ConnectionClosed();
  }

  void Run() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        beast::get_lowest_layer(self->stream_).expires_after(kIoTimeout);
        self->stream_.async_handshake(asio::ssl::stream_base::server,
                                      [self](const ErrorCode& ec) {
                                        if (!ec) self->DoRead();
                                      });
      } else {
        self->DoRead();
      }
    });
  }

 private:
  void DoRead() {
    parser_.emplace();
    parser_->body_limit(kMaxBodyBytes);
    parser_->header_limit(kHeaderLimit);
    beast::get_lowest_layer(stream_).expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](const ErrorCode& ec, size_t) {
                       self->OnRead(ec);
                     });
  }

  void OnRead(const ErrorCode& ec) {
    if (ec == http::error::body_limit) {
      request_ = parser_->release();
      request_.keep_alive(false);  // the rest of the body is still unread
      return Write(MakeResponse(request_, 413,
                                ErrorBody("RequestEntityTooLarge", "body over 30 MB")));
    }
    if (ec) return Close();
    request_ = parser_->release();
    Route();
  }

  void Route() {
    const std::string_view path = TargetPath(Sv(request_.target()));
    const http::verb method = request_.method();
    if (path == kLogsPath || IsDcrIngestPath(path)) return StartLogs();
    if (DcrTokenTenant(path)) {
      DcrAnswer token = state_->dcr.Token(Sv(request_.method_string()), path,
                                          Sv(request_[http::field::content_type]),
                                          request_.body(), state_->clock->NowMs());
      return Write(MakeDcrResponse(request_, token));
    }
    if (path == "/stats" && method == http::verb::get) {
      return Write(MakeResponse(request_, 200, state_->stats.Json()));
    }
    if (path == "/control" && method == http::verb::post) {
      if (absl::Status s = state_->faults.Control(request_.body()); !s.ok()) {
        return Write(
            MakeResponse(request_, 400, ErrorBody("InvalidControl", ToStd(s.message()))));
      }
      state_->gate.SetThreshold(state_->faults.config().gate);
    }
    if (path == "/control" && (method == http::verb::post || method == http::verb::get)) {
      return Write(MakeResponse(request_, 200, FaultConfigJson(state_->faults.config())));
    }
    Write(MakeResponse(request_, 404, ErrorBody("NotFound", "no such resource")));
  }

  void StartLogs() {
    state_->stats.RequestStarted();
    in_flight_ = true;
    kind_ = state_->faults.Decide(state_->clock->NowMs() - state_->started_ms);
    if (kind_ == FaultKind::kReset) return Reset();
    state_->gate.Enter([self = this->shared_from_this()] {
      asio::post(self->stream_.get_executor(), [self] { self->AfterGate(); });
    });
  }

  void AfterGate() {
    const TimeMs latency = state_->faults.config().latency_ms;
    if (latency <= 0) return AnswerLogs();
    // A timer, not a sleep: thousands of requests may wait at once.
    timer_.expires_after(std::chrono::milliseconds(latency));
    timer_.async_wait([self = this->shared_from_this()](const ErrorCode& ec) {
      if (!ec) self->AnswerLogs();
    });
  }

  void AnswerLogs() {
    const FaultConfig config = state_->faults.config();
    if (kind_ == FaultKind::kTimeout) {
      state_->stats.TimedOut();
      timer_.expires_after(std::chrono::milliseconds(config.timeout_close_ms));
      timer_.async_wait([self = this->shared_from_this()](const ErrorCode&) {
        self->FinishLogs(0);
        self->Close();
      });
      return;
    }
    const bool dcr = IsDcrIngestPath(TargetPath(Sv(request_.target())));
    if (kind_ == FaultKind::kFail) {
      const std::string_view code = FailureCode(config.fail_status);
      Response response = MakeResponse(
          request_, config.fail_status,
          dcr ? DcrErrorBody(code, "injected failure") : ErrorBody(code, "injected failure"));
      if (config.retry_after_s >= 0) {
        response.set(http::field::retry_after, std::to_string(config.retry_after_s));
      }
      FinishLogs(config.fail_status);
      return Write(std::move(response));
    }
    const TimeMs now = state_->clock->NowMs();
    if (dcr) return AnswerDcr(now);
    Verdict verdict =
        CheckLogsRequest(View(request_), state_->keys, now, state_->writer->format());
    if (verdict.ok()) {
      state_->writer->Append(verdict.log_type, verdict.workspace, now, verdict.records);
      state_->stats.RecordsAccepted(verdict.records.size());
    }
    if (verdict.ok() && kind_ == FaultKind::kStoreThenFail) {
      FinishLogs(500);
      return Write(MakeResponse(request_, 500,
                                ErrorBody("UnspecifiedError", "stored, then failed")));
    }
    FinishLogs(verdict.status);
    Write(MakeResponse(request_, verdict.status, verdict.Body()));
  }

  // The Logs Ingestion API: records go to the out file with the stream as
  // their log type and the rule as their workspace.
  void AnswerDcr(TimeMs now) {
    DcrAnswer answer =
        state_->dcr.Ingest(DcrView(request_), now, state_->writer->format());
    if (answer.ok()) {
      state_->writer->Append(answer.stream, answer.rule, now, answer.records);
      state_->stats.RecordsAccepted(answer.records.size());
      if (kind_ == FaultKind::kStoreThenFail) {
        answer = DcrError(500, "UnspecifiedError", "stored, then failed");
      }
    }
    FinishLogs(answer.status);
    Write(MakeDcrResponse(request_, answer));
  }

  void Write(Response response) {
    response_ = std::move(response);
    beast::get_lowest_layer(stream_).expires_after(kIoTimeout);
    http::async_write(stream_, response_,
                      [self = this->shared_from_this()](const ErrorCode& ec, size_t) {
                        if (ec || !self->response_.keep_alive()) return self->Close();
                        self->DoRead();
                      });
  }

  void FinishLogs(int status) {
    if (!in_flight_) return;
    in_flight_ = false;
    state_->stats.RequestFinished(status);
  }

  void Close() {
    ErrorCode ignored;
    auto& socket = beast::get_lowest_layer(stream_).socket();
    if constexpr (!kTls) socket.shutdown(tcp::socket::shutdown_send, ignored);
    socket.close(ignored);
  }

  // An abrupt close: SO_LINGER 0 makes the kernel send RST, not FIN.
  void Reset() {
    state_->stats.Reset();
    FinishLogs(0);
    ErrorCode ignored;
    auto& socket = beast::get_lowest_layer(stream_).socket();
    socket.set_option(tcp::socket::linger(true, 0), ignored);
    socket.close(ignored);
  }

  std::shared_ptr<Server::State> state_;
  Stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Request request_;
  Response response_;
  FaultKind kind_ = FaultKind::kNone;
  bool in_flight_ = false;  // an /api/logs request waits for its answer
};

}  // namespace

class Server::Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& io, std::shared_ptr<State> state)
      : io_(io),
        strand_(asio::make_strand(io)),
        acceptor_(strand_),
        flush_timer_(strand_),
        accept_retry_timer_(strand_),
        state_(std::move(state)) {}

  absl::Status Open(const tcp::endpoint& endpoint) {
    ErrorCode ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) port_ = acceptor_.local_endpoint(ec).port();
    if (ec) return absl::UnavailableError(absl::StrCat("listen: ", ec.message()));
    return absl::OkStatus();
  }

  void Start() {
    Accept();
    FlushLater();
  }

  uint16_t port() const { return port_; }

  void Stop() {
    ErrorCode ignored;
    acceptor_.close(ignored);
    flush_timer_.cancel();
    accept_retry_timer_.cancel();
    state_->writer->Flush().IgnoreError();
  }

 private:
  void Accept() {
    acceptor_.async_accept(
        asio::make_strand(io_),
        [self = shared_from_this()](const ErrorCode& ec, tcp::socket socket) {
          if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
          if (ec) return self->AcceptLater(ec);
          self->StartSession(std::move(socket));
          self->Accept();
        });
  }

  // Out of descriptors (EMFILE) and the like: accepting again at once would
  // spin a core; wait for connections to close.
  void AcceptLater(const ErrorCode& ec) {
    if (accept_errors_++ == 0) std::cerr << "fake_sentinel: accept: " << ec.message() << "\n";
    accept_retry_timer_.expires_after(std::chrono::milliseconds(50));
    accept_retry_timer_.async_wait([self = shared_from_this()](const ErrorCode& wait_ec) {
      if (!wait_ec) self->Accept();
    });
  }

  void StartSession(tcp::socket socket) {
    ErrorCode ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (state_->tls) {
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          state_, std::move(socket), *state_->tls)
          ->Run();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(state_, std::move(socket))->Run();
    }
  }

  void FlushLater() {
    flush_timer_.expires_after(kFlushInterval);
    flush_timer_.async_wait([self = shared_from_this()](const ErrorCode& ec) {
      if (ec) return;
      self->state_->writer->Flush().IgnoreError();
      self->FlushLater();
    });
  }

  asio::io_context& io_;
  asio::strand<asio::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  asio::steady_timer flush_timer_;
  asio::steady_timer accept_retry_timer_;
  std::shared_ptr<State> state_;
  uint16_t port_ = 0;
  uint64_t accept_errors_ = 0;
};

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    asio::io_context& io, Clock* clock, const ServerConfig& config, WorkspaceKeys keys,
    FaultConfig faults, std::unique_ptr<RecordWriter> writer, uint64_t fault_seed) {
  ErrorCode ec;
  const asio::ip::address address = asio::ip::make_address(config.host, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("bad address: ", config.host));
  auto state = std::make_shared<State>(clock, std::move(keys), faults, fault_seed,
                                       std::move(writer), config.dcr);
  if (!config.tls_cert.empty() || !config.tls_key.empty()) {
    auto tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    tls->set_options(asio::ssl::context::default_workarounds |
                         asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3,
                     ec);
    if (!ec) tls->use_certificate_chain_file(config.tls_cert, ec);
    if (!ec) tls->use_private_key_file(config.tls_key, asio::ssl::context::pem, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("TLS setup: ", ec.message()));
    state->tls = std::move(tls);
  }
  std::unique_ptr<Server> server(new Server());
  server->state_ = state;
  server->listener_ = std::make_shared<Listener>(io, state);
  if (absl::Status s = server->listener_->Open(tcp::endpoint(address, config.port));
      !s.ok()) {
    return s;
  }
  server->listener_->Start();
  return server;
}

Server::~Server() { Stop(); }

uint16_t Server::port() const { return listener_->port(); }

void Server::Stop() {
  if (listener_) listener_->Stop();
}

}  // namespace outboxd::fake_sentinel
