#include "transport/curl_transport.h"

#include <curl/curl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cctype>
#include <chrono>
#include <mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace outboxd {
namespace {

namespace asio = boost::asio;
using ErrorCode = boost::system::error_code;

// Idle easy handles kept for reuse; above this they are freed. Connections
// live in the multi handle's pool, so this cap does not limit keep-alive.
constexpr size_t kMaxIdleEasyHandles = 512;
constexpr char kCancelled[] = "cancelled";

// One request's state while curl works on it. Reused with its easy handle.
struct Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string request_body;  // CURLOPT_POSTFIELDS points into it
  Transport::Callback done;
  HttpResponse response;
  TimeMs started_ms = 0;
  size_t body_cap = 0;
  char error[CURL_ERROR_SIZE] = {};
};

// An asio view of one curl socket. Curl owns the descriptor: the watch never
// closes it, it only release()s it when curl stops watching or closes it.
struct SocketWatch {
  SocketWatch(asio::io_context& io, curl_socket_t fd) : descriptor(io, fd) {}
  asio::posix::stream_descriptor descriptor;
  int wanted = 0;          // CURL_POLL_IN / CURL_POLL_OUT bits
  uint64_t read_wait = 0;  // serial of the pending wait_read; 0 = none
  uint64_t write_wait = 0;
};

template <typename T>
absl::Status SetOpt(CURL* easy, CURLoption option, T value) {
  CURLcode code = curl_easy_setopt(easy, option, value);
  if (code == CURLE_OK) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("curl option ", static_cast<int>(option), ": ",
                                          curl_easy_strerror(code)));
}

template <typename T>
absl::Status SetMultiOpt(CURLM* multi, CURLMoption option, T value) {
  CURLMcode code = curl_multi_setopt(multi, option, value);
  if (code == CURLM_OK) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("curl multi option ", static_cast<int>(option),
                                          ": ", curl_multi_strerror(code)));
}

bool HasLineBreak(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

// "Name: value" as curl wants it; "Name;" sends an empty header (a bare
// "Name:" would remove it instead).
std::string HeaderLine(const std::string& name, const std::string& value) {
  if (value.empty()) return absl::StrCat(name, ";");
  return absl::StrCat(name, ": ", value);
}

CURLcode GlobalInit() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return code;
}

}  // namespace

class CurlTransport::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, Clock* clock, TransportOptions options)
      : io_(io), clock_(clock), options_(std::move(options)), timer_(io) {}
  ~Impl() { Shutdown(); }

  absl::Status Init();
  void Send(HttpRequest request, Callback done);
  // Stops everything; returns the callbacks of the requests still in flight.
  std::vector<Callback> Shutdown();

  size_t InFlight() const { return in_flight_.load(std::memory_order_relaxed); }
  size_t PeakInFlight() const { return peak_.load(std::memory_order_relaxed); }
  uint64_t NewConnections() const {
    return new_connections_.load(std::memory_order_relaxed);
  }

 private:
  // C callbacks; `userp`/`clientp` is the Impl.
  static int OnSocket(CURL* easy, curl_socket_t fd, int what, void* userp, void*);
  static int OnTimer(CURLM* multi, long timeout_ms, void* userp);
  static curl_socket_t OnOpenSocket(void* clientp, curlsocktype purpose,
                                    curl_sockaddr* address);
  static int OnCloseSocket(void* clientp, curl_socket_t fd);
  static size_t OnHeader(char* data, size_t size, size_t count, void* userp);
  static size_t OnBody(char* data, size_t size, size_t count, void* userp);

  void Watch(curl_socket_t fd, int what);
  void Unwatch(curl_socket_t fd);
  void Arm(curl_socket_t fd, SocketWatch& watch);
  void OnSocketReady(curl_socket_t fd, uint64_t serial, int direction,
                     const ErrorCode& ec);
  void ArmTimer(long timeout_ms);
  void OnTimerFired(uint64_t serial, const ErrorCode& ec);
  void Action(curl_socket_t fd, int mask);
  void DeliverCompletions();
  HttpResponse Finish(Transfer& transfer, CURLcode code);

  absl::Status ApplyCommonOptions(CURL* easy);
  absl::Status Configure(Transfer& transfer, HttpRequest& request);
  absl::Status ConfigureMethod(Transfer& transfer, const std::string& method);
  absl::StatusOr<std::unique_ptr<Transfer>> AcquireTransfer();
  void ReleaseTransfer(std::unique_ptr<Transfer> transfer);
  void PostFailure(Callback done, std::string error);

  asio::io_context& io_;
  Clock* const clock_;
  const TransportOptions options_;
  CURLM* multi_ = nullptr;
  CURLSH* share_ = nullptr;
  curl_slist* resolve_ = nullptr;
  curl_slist* connect_to_ = nullptr;
  asio::steady_timer timer_;
  uint64_t timer_wait_ = 0;  // serial of the pending timer wait; 0 = none
  uint64_t next_serial_ = 1;
  bool closed_ = false;
  absl::flat_hash_map<curl_socket_t, std::unique_ptr<SocketWatch>> watches_;
  absl::flat_hash_map<CURL*, std::unique_ptr<Transfer>> active_;
  std::vector<std::unique_ptr<Transfer>> idle_;
  std::atomic<size_t> in_flight_{0};
  std::atomic<size_t> peak_{0};
  std::atomic<uint64_t> new_connections_{0};
};

absl::Status CurlTransport::Impl::Init() {
  if (clock_ == nullptr) return absl::InvalidArgumentError("transport needs a clock");
  if (GlobalInit() != CURLE_OK) return absl::InternalError("curl_global_init failed");
  multi_ = curl_multi_init();
  share_ = curl_share_init();
  if (multi_ == nullptr || share_ == nullptr) {
    return absl::InternalError("cannot create curl multi or share handle");
  }
  // One thread uses the share, so it needs no lock callbacks.
  if (curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
      curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) !=
          CURLSHE_OK) {
    return absl::InternalError("cannot share DNS and TLS session caches");
  }
  for (const std::string& entry : options_.resolve) {
    if (entry.empty() || HasLineBreak(entry)) {
      return absl::InvalidArgumentError(absl::StrCat("bad resolve entry: ", entry));
    }
    resolve_ = curl_slist_append(resolve_, entry.c_str());
  }
  for (const std::string& entry : options_.connect_to) {
    if (entry.empty() || HasLineBreak(entry)) {
      return absl::InvalidArgumentError(absl::StrCat("bad connect-to entry: ", entry));
    }
    connect_to_ = curl_slist_append(connect_to_, entry.c_str());
  }
  long pipelining = options_.http2 ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING;
  for (absl::Status s : {
           SetMultiOpt(multi_, CURLMOPT_SOCKETFUNCTION, &Impl::OnSocket),
           SetMultiOpt(multi_, CURLMOPT_SOCKETDATA, this),
           SetMultiOpt(multi_, CURLMOPT_TIMERFUNCTION, &Impl::OnTimer),
           SetMultiOpt(multi_, CURLMOPT_TIMERDATA, this),
           SetMultiOpt(multi_, CURLMOPT_PIPELINING, pipelining),
           SetMultiOpt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS,
                       std::max(0L, options_.max_host_connections)),
           SetMultiOpt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                       std::max(0L, options_.max_total_connections)),
       }) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// Options every request shares. Applied to a fresh or reset easy handle.
absl::Status CurlTransport::Impl::ApplyCommonOptions(CURL* easy) {
  const long verify = options_.verify_tls ? 1L : 0L;
  const long http_version =
      options_.http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1;
  for (absl::Status s : {
           SetOpt(easy, CURLOPT_NOSIGNAL, 1L),
           SetOpt(easy, CURLOPT_SHARE, share_),
           SetOpt(easy, CURLOPT_PROTOCOLS_STR, "http,https"),
           SetOpt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str()),
           SetOpt(easy, CURLOPT_HTTP_VERSION, http_version),
           SetOpt(easy, CURLOPT_TCP_KEEPALIVE, 1L),
           SetOpt(easy, CURLOPT_SSL_VERIFYPEER, verify),
           SetOpt(easy, CURLOPT_SSL_VERIFYHOST, verify * 2),
           SetOpt(easy, CURLOPT_HEADERFUNCTION, &Impl::OnHeader),
           SetOpt(easy, CURLOPT_WRITEFUNCTION, &Impl::OnBody),
           SetOpt(easy, CURLOPT_OPENSOCKETFUNCTION, &Impl::OnOpenSocket),
           SetOpt(easy, CURLOPT_OPENSOCKETDATA, this),
           SetOpt(easy, CURLOPT_CLOSESOCKETFUNCTION, &Impl::OnCloseSocket),
           SetOpt(easy, CURLOPT_CLOSESOCKETDATA, this),
       }) {
    if (!s.ok()) return s;
  }
  if (!options_.ca_file.empty()) {
    if (auto s = SetOpt(easy, CURLOPT_CAINFO, options_.ca_file.c_str()); !s.ok())
      return s;
  }
  if (connect_to_ != nullptr) {
    if (auto s = SetOpt(easy, CURLOPT_CONNECT_TO, connect_to_); !s.ok()) return s;
  }
  if (resolve_ != nullptr) return SetOpt(easy, CURLOPT_RESOLVE, resolve_);
  return absl::OkStatus();
}

absl::Status CurlTransport::Impl::Configure(Transfer& t, HttpRequest& request) {
  CURL* easy = t.easy;
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || HasLineBreak(name) || HasLineBreak(value)) {
      return absl::InvalidArgumentError(absl::StrCat("bad header: ", name));
    }
    t.headers = curl_slist_append(t.headers, HeaderLine(name, value).c_str());
  }
  // Answers are small and immediate: never wait for 100-continue.
  t.headers = curl_slist_append(t.headers, "Expect:");
  t.request_body = std::move(request.body);
  t.body_cap = options_.max_response_body;
  t.error[0] = '\0';
  const long timeout = static_cast<long>(std::max<TimeMs>(1, request.timeout_ms));
  const long connect_timeout = std::min(
      timeout, static_cast<long>(std::max<TimeMs>(1, options_.connect_timeout_ms)));
  for (absl::Status s : {
           SetOpt(easy, CURLOPT_URL, request.url.c_str()),
           SetOpt(easy, CURLOPT_HTTPHEADER, t.headers),
           SetOpt(easy, CURLOPT_TIMEOUT_MS, timeout),
           SetOpt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout),
           SetOpt(easy, CURLOPT_HEADERDATA, &t),
           SetOpt(easy, CURLOPT_WRITEDATA, &t),
           SetOpt(easy, CURLOPT_ERRORBUFFER, t.error),
       }) {
    if (!s.ok()) return s;
  }
  // Waiting for a connection to learn whether it multiplexes only pays off
  // where HTTP/2 may be negotiated (ALPN, so https). On plain HTTP curl would
  // learn it from the first answer, serialising everything behind it.
  const bool may_multiplex = options_.http2 && request.url.rfind("https://", 0) == 0;
  if (absl::Status s = SetOpt(easy, CURLOPT_PIPEWAIT, may_multiplex ? 1L : 0L); !s.ok()) {
    return s;
  }
  return ConfigureMethod(t, request.method);
}

absl::Status CurlTransport::Impl::ConfigureMethod(Transfer& t,
                                                  const std::string& method) {
  CURL* easy = t.easy;
  if (method == "GET") return SetOpt(easy, CURLOPT_HTTPGET, 1L);
  if (method == "HEAD") return SetOpt(easy, CURLOPT_NOBODY, 1L);
  if (method.empty() || HasLineBreak(method) || method.find(' ') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("bad method: ", method));
  }
  // POST and any other method with a body: the body is sent as is.
  for (absl::Status s : {
           SetOpt(easy, CURLOPT_POST, 1L),
           SetOpt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                  static_cast<curl_off_t>(t.request_body.size())),
           SetOpt(easy, CURLOPT_POSTFIELDS, t.request_body.data()),
       }) {
    if (!s.ok()) return s;
  }
  if (method == "POST") return absl::OkStatus();
  return SetOpt(easy, CURLOPT_CUSTOMREQUEST, method.c_str());
}

absl::StatusOr<std::unique_ptr<Transfer>> CurlTransport::Impl::AcquireTransfer() {
  if (!idle_.empty()) {
    std::unique_ptr<Transfer> t = std::move(idle_.back());
    idle_.pop_back();
    return t;
  }
  auto t = std::make_unique<Transfer>();
  t->easy = curl_easy_init();
  if (t->easy == nullptr) return absl::InternalError("curl_easy_init failed");
  if (absl::Status s = ApplyCommonOptions(t->easy); !s.ok()) {
    curl_easy_cleanup(t->easy);
    return s;
  }
  return t;
}

// Resets the handle so it keeps no pointer into freed request data.
void CurlTransport::Impl::ReleaseTransfer(std::unique_ptr<Transfer> t) {
  curl_slist_free_all(t->headers);
  t->headers = nullptr;
  std::string().swap(t->request_body);
  t->response = HttpResponse{};
  t->done = nullptr;
  curl_easy_reset(t->easy);
  if (closed_ || idle_.size() >= kMaxIdleEasyHandles ||
      !ApplyCommonOptions(t->easy).ok()) {
    curl_easy_cleanup(t->easy);
    return;
  }
  idle_.push_back(std::move(t));
}

void CurlTransport::Impl::PostFailure(Callback done, std::string error) {
  // Captures no Impl: it may run after the transport is gone.
  asio::post(io_, [done = std::move(done), error = std::move(error)]() mutable {
    HttpResponse response;
    response.transport_error = std::move(error);
    done(std::move(response));
  });
}

void CurlTransport::Impl::Send(HttpRequest request, Callback done) {
  if (closed_) return PostFailure(std::move(done), kCancelled);
  absl::StatusOr<std::unique_ptr<Transfer>> acquired = AcquireTransfer();
  if (!acquired.ok()) return PostFailure(std::move(done), acquired.status().ToString());
  std::unique_ptr<Transfer> t = *std::move(acquired);
  if (absl::Status s = Configure(*t, request); !s.ok()) {
    ReleaseTransfer(std::move(t));
    return PostFailure(std::move(done), std::string(s.message()));
  }
  t->done = std::move(done);
  t->started_ms = clock_->NowMs();
  // Adding only arms curl's timer (OnTimer); no transfer completes in here.
  if (CURLMcode code = curl_multi_add_handle(multi_, t->easy); code != CURLM_OK) {
    Callback cb = std::move(t->done);
    ReleaseTransfer(std::move(t));
    return PostFailure(std::move(cb), curl_multi_strerror(code));
  }
  CURL* easy = t->easy;
  active_.emplace(easy, std::move(t));
  const size_t now = in_flight_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (now > peak_.load(std::memory_order_relaxed)) {
    peak_.store(now, std::memory_order_relaxed);
  }
}

int CurlTransport::Impl::OnSocket(CURL*, curl_socket_t fd, int what, void* userp, void*) {
  auto* self = static_cast<Impl*>(userp);
  if (what == CURL_POLL_REMOVE) {
    self->Unwatch(fd);
  } else if (!self->closed_) {
    self->Watch(fd, what);
  }
  return 0;
}

void CurlTransport::Impl::Watch(curl_socket_t fd, int what) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) {
    it = watches_.emplace(fd, std::make_unique<SocketWatch>(io_, fd)).first;
  }
  it->second->wanted = what;
  Arm(fd, *it->second);
}

void CurlTransport::Impl::Unwatch(curl_socket_t fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  // release() aborts the pending waits and hands the fd back untouched; the
  // aborted handlers find no watch with their serial and do nothing.
  it->second->descriptor.release();
  watches_.erase(it);
}

void CurlTransport::Impl::Arm(curl_socket_t fd, SocketWatch& watch) {
  auto wait = [&](asio::posix::stream_descriptor::wait_type type, int direction,
                  uint64_t& pending) {
    pending = next_serial_++;
    watch.descriptor.async_wait(type, [weak = weak_from_this(), fd, serial = pending,
                                       direction](const ErrorCode& ec) {
      if (auto self = weak.lock()) self->OnSocketReady(fd, serial, direction, ec);
    });
  };
  if ((watch.wanted & CURL_POLL_IN) && watch.read_wait == 0) {
    wait(asio::posix::stream_descriptor::wait_read, CURL_CSELECT_IN, watch.read_wait);
  }
  if ((watch.wanted & CURL_POLL_OUT) && watch.write_wait == 0) {
    wait(asio::posix::stream_descriptor::wait_write, CURL_CSELECT_OUT, watch.write_wait);
  }
}

void CurlTransport::Impl::OnSocketReady(curl_socket_t fd, uint64_t serial, int direction,
                                        const ErrorCode& ec) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  SocketWatch& watch = *it->second;
  uint64_t& pending = direction == CURL_CSELECT_IN ? watch.read_wait : watch.write_wait;
  if (pending != serial) return;  // stale: the fd was released or reused
  pending = 0;
  const int wanted = direction == CURL_CSELECT_IN ? CURL_POLL_IN : CURL_POLL_OUT;
  if (watch.wanted & wanted) Action(fd, direction | (ec ? CURL_CSELECT_ERR : 0));
  // Waits are one-shot: re-arm what curl still wants (it may have changed or
  // dropped the socket inside Action).
  it = watches_.find(fd);
  if (it != watches_.end()) Arm(fd, *it->second);
}

int CurlTransport::Impl::OnTimer(CURLM*, long timeout_ms, void* userp) {
  static_cast<Impl*>(userp)->ArmTimer(timeout_ms);
  return 0;
}

void CurlTransport::Impl::ArmTimer(long timeout_ms) {
  timer_wait_ = 0;  // whatever is pending is stale now
  if (timeout_ms < 0 || closed_) {
    timer_.cancel();
    return;
  }
  // Even a 0 ms timeout goes through the loop: curl forbids calling
  // curl_multi_socket_action from inside this callback.
  timer_wait_ = next_serial_++;
  if (timeout_ms == 0) {
    // Curl asks for this on every curl_multi_add_handle. A posted handler
    // costs no system call; re-arming the timer would set the reactor's
    // timerfd (timerfd_settime, ~1 % of outboxd's CPU at saturation). A
    // wait still pending on the timer is stale now and ignored if it fires.
    asio::post(io_, [weak = weak_from_this(), serial = timer_wait_] {
      if (auto self = weak.lock()) self->OnTimerFired(serial, ErrorCode());
    });
    return;
  }
  timer_.expires_after(std::chrono::milliseconds(timeout_ms));
  timer_.async_wait([weak = weak_from_this(), serial = timer_wait_](const ErrorCode& ec) {
    if (auto self = weak.lock()) self->OnTimerFired(serial, ec);
  });
}

void CurlTransport::Impl::OnTimerFired(uint64_t serial, const ErrorCode& ec) {
  if (ec || serial != timer_wait_) return;
  timer_wait_ = 0;
  Action(CURL_SOCKET_TIMEOUT, 0);
}

void CurlTransport::Impl::Action(curl_socket_t fd, int mask) {
  if (closed_) return;
  int running = 0;
  curl_multi_socket_action(multi_, fd, mask, &running);
  DeliverCompletions();
}

void CurlTransport::Impl::DeliverCompletions() {
  std::vector<std::pair<Callback, HttpResponse>> finished;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    const CURLcode code = msg->data.result;
    auto it = active_.find(easy);
    if (it == active_.end()) continue;
    std::unique_ptr<Transfer> t = std::move(it->second);
    active_.erase(it);
    curl_multi_remove_handle(multi_, easy);
    HttpResponse response = Finish(*t, code);
    finished.emplace_back(std::move(t->done), std::move(response));
    ReleaseTransfer(std::move(t));
  }
  in_flight_.fetch_sub(finished.size(), std::memory_order_relaxed);
  // The caller's handler holds a strong reference to this Impl, so a
  // callback may Send again or even destroy the CurlTransport.
  for (auto& [done, response] : finished) done(std::move(response));
}

HttpResponse CurlTransport::Impl::Finish(Transfer& t, CURLcode code) {
  HttpResponse response = std::move(t.response);
  response.latency_ms = clock_->NowMs() - t.started_ms;
  long connects = 0;
  if (curl_easy_getinfo(t.easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK) {
    new_connections_.fetch_add(static_cast<uint64_t>(connects),
                               std::memory_order_relaxed);
  }
  if (code == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    return response;
  }
  // No complete answer: whatever arrived is not trustworthy.
  response.status = 0;
  response.headers.clear();
  response.body.clear();
  response.timed_out = code == CURLE_OPERATION_TIMEDOUT;
  response.transport_error = curl_easy_strerror(code);
  if (t.error[0] != '\0') absl::StrAppend(&response.transport_error, ": ", t.error);
  return response;
}

size_t CurlTransport::Impl::OnHeader(char* data, size_t size, size_t count, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.substr(0, 5) == "HTTP/") {
    t->response.headers.clear();  // a new response (after 1xx) starts over
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return n;  // blank line, folding
  std::string name(line.substr(0, colon));
  absl::AsciiStrToLower(&name);
  // Debian's absl::string_view is not std::string_view.
  absl::string_view value =
      absl::StripAsciiWhitespace(absl::string_view(data + colon + 1, n - colon - 1));
  t->response.headers.emplace_back(std::move(name), std::string(value));
  return n;
}

size_t CurlTransport::Impl::OnBody(char* data, size_t size, size_t count, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  const size_t n = size * count;
  const size_t room = t->body_cap - std::min(t->body_cap, t->response.body.size());
  t->response.body.append(data, std::min(n, room));
  return n;  // the rest is dropped, not an error
}

curl_socket_t CurlTransport::Impl::OnOpenSocket(void*, curlsocktype,
                                                curl_sockaddr* address) {
  int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  return fd < 0 ? CURL_SOCKET_BAD : fd;
}

int CurlTransport::Impl::OnCloseSocket(void* clientp, curl_socket_t fd) {
  // Take the fd away from asio before it can be closed and reused.
  static_cast<Impl*>(clientp)->Unwatch(fd);
  return ::close(fd);
}

std::vector<Transport::Callback> CurlTransport::Impl::Shutdown() {
  std::vector<Callback> pending;
  if (closed_) return pending;
  closed_ = true;
  timer_wait_ = 0;
  timer_.cancel();
  if (multi_ != nullptr) {
    for (auto& [easy, t] : active_) {
      curl_multi_remove_handle(multi_, easy);  // closes its connection
      pending.push_back(std::move(t->done));
    }
  }
  for (auto& [easy, t] : active_) {
    curl_slist_free_all(t->headers);
    curl_easy_cleanup(easy);
  }
  active_.clear();
  in_flight_.store(0, std::memory_order_relaxed);
  for (auto& t : idle_) curl_easy_cleanup(t->easy);
  idle_.clear();
  // Closes the pooled connections through OnCloseSocket.
  if (multi_ != nullptr) curl_multi_cleanup(multi_);
  multi_ = nullptr;
  if (share_ != nullptr) curl_share_cleanup(share_);
  share_ = nullptr;
  curl_slist_free_all(resolve_);
  resolve_ = nullptr;
  curl_slist_free_all(connect_to_);
  connect_to_ = nullptr;
  for (auto& [fd, watch] : watches_) watch->descriptor.release();
  watches_.clear();
  return pending;
}

CurlTransport::CurlTransport(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

CurlTransport::~CurlTransport() {
  for (Callback& done : impl_->Shutdown()) {
    HttpResponse response;
    response.transport_error = kCancelled;
    done(std::move(response));
  }
}

absl::StatusOr<std::unique_ptr<CurlTransport>> CurlTransport::Create(
    asio::io_context& io, Clock* clock, TransportOptions options) {
  auto impl = std::make_shared<Impl>(io, clock, std::move(options));
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<CurlTransport>(new CurlTransport(std::move(impl)));
}

void CurlTransport::Send(HttpRequest request, Callback done) {
  impl_->Send(std::move(request), std::move(done));
}

size_t CurlTransport::InFlight() const { return impl_->InFlight(); }
size_t CurlTransport::PeakInFlight() const { return impl_->PeakInFlight(); }
uint64_t CurlTransport::NewConnections() const { return impl_->NewConnections(); }

}  // namespace outboxd
