// What the HTTP layer needs from the rest of outboxd. The daemon implements
// it (registry, store, dispatcher); tests use a fake.
//
// Threading: the handler calls every method except Healthy() from a worker
// thread, never an I/O thread, so methods may block on disk (fsync). All
// methods must be thread-safe. Status codes map to HTTP answers:
//   InvalidArgument -> 400, NotFound -> 404, AlreadyExists / FailedPrecondition
//   / Aborted -> 409, ResourceExhausted / Unavailable -> 503, Unimplemented
//   -> 501, anything else -> 500. Messages are shown to the client: they must
//   not contain secrets.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/ingest_parser.h"
#include "outboxd/clock.h"
#include "outboxd/integration.h"
#include "outboxd/store.h"

namespace outboxd {

struct IngestResult {
  uint64_t accepted = 0;    // events taken
  uint64_t deliveries = 0;  // deliveries enqueued (events x selecting integrations)
};

// The destination's answer to a test record (DESIGN.md "Test integration").
struct TestResult {
  bool ok = false;
  int status = 0;          // HTTP status, 0 when no answer (timeout, connection error)
  std::string error_code;  // e.g. Azure's "Error" value, "timeout"; empty when ok
  std::string message;
  int64_t latency_ms = 0;
};

// GET /v1/integrations/{id}/stats.
struct IntegrationStatsView {
  IntegrationState state = IntegrationState::kEnabled;
  uint64_t queued = 0;
  std::optional<TimeMs> oldest_due;  // unset when nothing is queued
  uint64_t requests = 0;             // within the health window
  uint64_t failures = 0;
  double ratio = 0;  // failures / requests, 0 when no requests
};

// POST /v1/integrations/{id}/dead/replay.
struct ReplayResult {
  uint64_t replayed = 0;
  bool more = false;  // replay-all only: dead deliveries remain beyond the cap
};

// Most dead deliveries one replay-all moves (one batch, bounded memory).
inline constexpr size_t kMaxReplayPerCall = 10'000;

class Service {
 public:
  virtual ~Service() = default;

  // Routes the events and stores their deliveries; returns only once that
  // is durable. ResourceExhausted when the store cannot take more (the
  // client is told to retry), Unavailable when it is shutting down. The
  // events' bytes (ParsedEvent::raw) are valid only during the call.
  virtual absl::StatusOr<IngestResult> Ingest(std::vector<ParsedEvent> events) = 0;

  // Adds `count` processed requests to the company's hour containing `at`
  // (for the hourly report). Durable before it returns OK.
  virtual absl::Status AddRequestCount(uint64_t company_id, uint64_t count,
                                       TimeMs at) = 0;

  // `config` is validated by the API layer and has id 0; the service assigns
  // id, created/updated times and version and returns the stored config.
  virtual absl::StatusOr<IntegrationConfig> CreateIntegration(
      IntegrationConfig config) = 0;
  // Integrations not being deleted, by id.
  virtual std::vector<IntegrationConfig> ListIntegrations() = 0;
  // NotFound for unknown or deleted ids.
  virtual absl::StatusOr<IntegrationConfig> GetIntegration(uint64_t id) = 0;
  // `updated` is GetIntegration(id) with the request's changes applied; its
  // `version` is the one it was read at: FailedPrecondition (409) when the
  // integration changed meanwhile. Returns the stored config.
  virtual absl::StatusOr<IntegrationConfig> UpdateIntegration(
      uint64_t id, IntegrationConfig updated) = 0;
  // Marks it deleted (its last notice may still be delivered). NotFound.
  virtual absl::Status DeleteIntegration(uint64_t id) = 0;
  // enabled: state -> enabled (clears the health window); otherwise -> disabled.
  virtual absl::StatusOr<IntegrationConfig> SetEnabled(uint64_t id, bool enabled) = 0;

  // Sends one test record to the destination described by `config` (saved
  // or not) and reports its answer. Asynchronous: `done` is called exactly
  // once, on any thread, possibly before TestIntegration returns. An error
  // status means the test could not run (e.g. Unimplemented for a kind).
  virtual void TestIntegration(IntegrationConfig config,
                               std::function<void(absl::StatusOr<TestResult>)> done) = 0;

  // NotFound for unknown ids.
  virtual absl::StatusOr<IntegrationStatsView> Stats(uint64_t id) = 0;

  // Dead deliveries of the integration, at most `limit`: its own in seq
  // order, then its notice lane's. NotFound for unknown or deleted ids.
  virtual absl::StatusOr<std::vector<DeadDelivery>> ListDead(uint64_t id,
                                                             size_t limit) = 0;
  // Moves dead deliveries back to the outbox, due now with attempts reset,
  // in one atomic batch: those whose seq is in `seqs` (others are skipped),
  // or, when `seqs` is empty, all of them up to kMaxReplayPerCall. NotFound
  // for unknown or deleted ids.
  virtual absl::StatusOr<ReplayResult> ReplayDead(uint64_t id,
                                                  std::vector<uint64_t> seqs) = 0;

  // Prometheus text exposition (format 0.0.4), ending with a newline.
  virtual std::string Metrics() = 0;

  // Called on an I/O thread: must be cheap and must not block.
  virtual bool Healthy() = 0;
};

}  // namespace outboxd
