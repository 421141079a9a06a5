// fake_sentinel's I/O half: a Boost.Beast HTTP(S) server. Sessions only read,
// wait and write; what to answer comes from checks.h and faults.h.
//
// Routes: POST /api/logs?api-version=2016-04-01 (the Data Collector API),
// GET /stats, GET|POST /control (fault config), anything else 404; and the
// Logs Ingestion API (dcr.h): POST /<tenant>/oauth2/v2.0/token and POST
// /dataCollectionRules/<id>/streams/<stream>, which takes the same faults.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "checks.h"
#include "dcr.h"
#include "faults.h"
#include "outboxd/clock.h"
#include "output.h"

namespace outboxd::fake_sentinel {

struct ServerConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 = ephemeral
  // Both set: serve HTTPS with this PEM certificate (chain) and key.
  std::string tls_cert;
  std::string tls_key;
  // The Logs Ingestion API's clients and token lifetime.
  DcrConfig dcr;
};

class Server {
 public:
  // Binds, listens and starts accepting on `io`. `clock` must outlive the
  // io_context's handlers; `fault_seed` seeds the fault rates' random draws.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      boost::asio::io_context& io, Clock* clock, const ServerConfig& config,
      WorkspaceKeys keys, FaultConfig faults, std::unique_ptr<RecordWriter> writer,
      uint64_t fault_seed);
  ~Server();

  uint16_t port() const;
  // Stops accepting and the flush timer, then flushes the records. Open
  // sessions end when the io_context stops.
  void Stop();

  // Implementation details, shared with the sessions in server.cc.
  struct State;
  class Listener;

 private:
  Server() = default;
  std::shared_ptr<State> state_;
  std::shared_ptr<Listener> listener_;
};

}  // namespace outboxd::fake_sentinel
