// Moving bytes: one HTTP request in, one answer out. The dispatcher decides;
// the transport only sends. Implementations: CurlTransport (libcurl multi on
// a Boost.Asio io_context) and, in tests, ScriptedTransport.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "outboxd/clock.h"

namespace outboxd {

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  TimeMs timeout_ms = 30 * kSecondMs;  // whole request
  // A tag the caller uses for logs and per-host accounting (integration id).
  uint64_t tag = 0;
};

struct HttpResponse {
  // HTTP status, or 0 when no answer came (connection error, timeout).
  int status = 0;
  // For status 0: what went wrong, e.g. "timeout", "connection refused".
  std::string transport_error;
  bool timed_out = false;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  TimeMs latency_ms = 0;

  // First header with this lower-case name, or "".
  std::string_view Header(std::string_view lower_name) const {
    for (const auto& [k, v] : headers)
      if (k == lower_name) return v;
    return {};
  }
  bool ok() const { return status >= 200 && status < 300; }
};

class Transport {
 public:
  using Callback = std::function<void(HttpResponse)>;
  virtual ~Transport() = default;
  // Starts a request. `done` runs exactly once, on the transport's loop
  // thread, never inside Send itself. Must be called on the loop thread.
  virtual void Send(HttpRequest request, Callback done) = 0;
  // Requests started and not completed yet.
  virtual size_t InFlight() const = 0;
};

}  // namespace outboxd
