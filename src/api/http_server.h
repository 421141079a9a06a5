// The HTTP/1.1 server: Boost.Beast listener and sessions on a pool of I/O
// threads (Beast's advanced server shape). A session only does I/O: it reads
// a request (header, `Expect: 100-continue`, body up to the limit), hands it
// to the RequestHandler, writes the response that comes back (from any
// thread) on its strand, and keeps the connection alive when the client
// asks. Bodies over the limit get 413, malformed requests 400, both with a
// JSON error and then the connection is closed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "api/http_types.h"
#include "outboxd/mutex.h"

namespace outboxd {

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // an address or a name to resolve
  uint16_t port = 0;               // 0: an ephemeral port (see HttpServer::port)
  int io_threads = 2;
  uint64_t max_body_bytes = 16ull << 20;  // --max-body
  size_t max_header_bytes = 16 << 10;
  // To read one request (including waiting for it on a kept-alive
  // connection), and to write one response.
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  // After an answer that closes the connection, how long unread request
  // bytes are drained so the client sees the answer, not a reset.
  std::chrono::milliseconds linger_timeout{2'000};
};

class HttpServer {
 public:
  // Binds, listens and starts the I/O threads. `handler` must outlive the
  // server. Errors: the address does not resolve or cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const HttpServerOptions& options, RequestHandler* handler);
  ~HttpServer();  // Stop(0)

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port.
  uint16_t port() const { return port_; }

  // Graceful stop: stops accepting and closes connections waiting for a
  // request; requests already read are answered (their responses written)
  // if that happens within `grace`; then every connection is closed, late
  // responses are dropped and the I/O threads are joined. Idempotent; not
  // from an I/O thread.
  void Stop(std::chrono::milliseconds grace);

 private:
  struct State;
  class Listener;
  class Session;

  HttpServer() = default;

  std::shared_ptr<State> state_;
  std::shared_ptr<Listener> listener_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace outboxd
