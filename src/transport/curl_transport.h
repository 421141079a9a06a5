// CurlTransport: the Transport contract on libcurl's multi interface, driven
// by a Boost.Asio io_context (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION and
// curl_multi_socket_action; no polling loop). This is the only code in
// outboxd that knows curl.
//
// Threading: one thread owns the transport, its multi handle and every easy
// handle: the thread that runs the io_context. Create, Send and the
// destructor run there (or while the io_context is not running at all).
// InFlight(), PeakInFlight() and NewConnections() may be read from any thread.
//
// Example:
//   boost::asio::io_context io;
//   auto transport = CurlTransport::Create(io, RealClock(), TransportOptions{});
//   HttpRequest request;
//   request.url = "https://example.org/api/logs?api-version=2016-04-01";
//   (*transport)->Send(std::move(request), [](HttpResponse r) { ... });
//   io.run();
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "outboxd/clock.h"
#include "outboxd/transport.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace outboxd {

struct TransportOptions {
  // PEM bundle used to verify servers; empty = the system's default trust.
  std::string ca_file;
  // Verify the peer certificate and host name. Only tests turn this off.
  bool verify_tls = true;
  TimeMs connect_timeout_ms = 10 * kSecondMs;
  // Connections per host (requests above the cap wait in curl's queue and
  // still count as in flight). 0 = unlimited.
  long max_host_connections = 64;
  // Connections overall. 0 = unlimited.
  long max_total_connections = 0;
  // Offer HTTP/2 over TLS (ALPN) and multiplex requests on one connection.
  // Plain http:// always uses HTTP/1.1.
  bool http2 = true;
  // CURLOPT_RESOLVE entries, "HOST:PORT:ADDRESS[,ADDRESS]...", e.g. to map
  // thousands of workspace host names to one test receiver.
  std::vector<std::string> resolve;
  // CURLOPT_CONNECT_TO entries, "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT";
  // an empty HOST or PORT matches any, so "::127.0.0.1:8443" sends every
  // request to one receiver while the Host header, SNI and the certificate
  // check keep the URL's name. Cheaper than thousands of resolve entries,
  // which curl loads into its DNS cache again at every transfer.
  std::vector<std::string> connect_to;
  std::string user_agent = "outboxd/0.1";
  // Response bodies are cut to this size (answers are small JSON errors).
  size_t max_response_body = 64 * 1024;
};

class CurlTransport final : public Transport {
 public:
  // `clock` must outlive the transport. Fails (Internal) only when libcurl
  // cannot be initialised or rejects an option.
  static absl::StatusOr<std::unique_ptr<CurlTransport>> Create(
      boost::asio::io_context& io, Clock* clock, TransportOptions options);

  // Cancels everything in flight: every pending callback runs once, inside
  // the destructor, with status 0 and transport_error "cancelled". A Send
  // made from such a callback completes later (posted) with "cancelled" too.
  ~CurlTransport() override;

  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  // Transport. A request that cannot even be started (bad URL, unsupported
  // option) completes, posted, with status 0 and the reason.
  void Send(HttpRequest request, Callback done) override;
  size_t InFlight() const override;

  // The largest InFlight() seen since construction.
  size_t PeakInFlight() const;
  // New connections opened by completed requests (CURLINFO_NUM_CONNECTS
  // summed): low when keep-alive and multiplexing work.
  uint64_t NewConnections() const;

 private:
  class Impl;
  explicit CurlTransport(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace outboxd
