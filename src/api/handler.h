// The HTTP API's decisions: routing, authentication, status codes and JSON
// bodies per DESIGN.md "API contract", over a Service. No sockets here: the
// server hands in a Request and writes the Response it gets back, so the
// whole API is testable without the network.
//
// Authentication: `Authorization: Bearer <token>`, compared in constant
// time. The ingest token guards POST /v1/events and /v1/request-counts, the
// admin token /v1/integrations... and /metrics; /healthz is open. A class
// whose token is empty refuses every request (fail closed): the daemon
// always configures both (it generates them when not given).
//
// Threading: Handle() runs on an I/O thread and only routes and checks
// tokens; every Service call except Healthy() goes to the Executor. When the
// executor is full the answer is 503 with Retry-After.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <semaphore>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "api/http_types.h"
#include "api/ingest_parser.h"
#include "api/integration_json.h"
#include "api/service.h"
#include "outboxd/clock.h"

namespace outboxd {

struct HandlerOptions {
  std::string ingest_token;
  std::string admin_token;
  bool allow_endpoint_override = false;
  IngestLimits ingest_limits;
  // Ingest bodies parsed at the same time (0: as many as there are
  // workers). Parsing is pure CPU; the workers beyond this many are there
  // to wait for fsyncs together, not to parse.
  int max_concurrent_parses = 0;
};

// The HTTP status for a Service error (see service.h).
int HttpStatusFor(const absl::Status& status);

class Handler final : public RequestHandler {
 public:
  // `service`, `executor` and `clock` must outlive the handler, and the
  // executor must run (or drop) its tasks before the handler is destroyed.
  // Responders handed to Service::TestIntegration do not refer to the
  // handler and may outlive it.
  Handler(Service* service, Executor* executor, Clock* clock, HandlerOptions options);

  void Handle(Request request, Responder respond) override;

 private:
  struct Counters;
  enum class Route : uint8_t;

  void Dispatch(Route route, uint64_t id, Request request, Responder respond);
  // Runs `task` on the executor, or answers 503 when it is full.
  void Offload(const Responder& respond, absl::AnyInvocable<void() &&> task);

  void Ingest(Request request, Responder respond);
  void RequestCounts(Request request, Responder respond);
  void CreateIntegration(Request request, Responder respond);
  void PatchIntegration(uint64_t id, Request request, Responder respond);
  void TestIntegration(uint64_t id, Request request, Responder respond);
  void ListDead(uint64_t id, Request request, Responder respond);
  void ReplayDead(uint64_t id, Request request, Responder respond);
  void Metrics(Responder respond);

  bool Authorized(std::string_view header, bool admin) const;

  Service* const service_;
  Executor* const executor_;
  Clock* const clock_;
  const HandlerOptions options_;
  std::array<unsigned char, 32> ingest_digest_{};
  std::array<unsigned char, 32> admin_digest_{};
  std::shared_ptr<Counters> counters_;
  // Bounds concurrent ParseEvents (options_.max_concurrent_parses); null
  // when unbounded.
  std::unique_ptr<std::counting_semaphore<>> parse_slots_;
};

}  // namespace outboxd
