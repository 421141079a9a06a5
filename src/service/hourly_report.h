// The hourly report: producers report how many requests they processed;
// once per hour, exactly once even across crashes and restarts, each company
// gets a `requests_per_hour` event for the previous hour.
//
// Exactly once: the report's deliveries and the "reported up to hour H"
// marker are one store batch, so a crash leaves either both or neither.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "outboxd/mutex.h"
#include "outboxd/clock.h"
#include "outboxd/store.h"
#include "service/registry.h"

namespace outboxd {

inline int64_t HourOf(TimeMs t) { return t >= 0 ? t / kHourMs : (t - kHourMs + 1) / kHourMs; }

class HourlyReporter {
 public:
  HourlyReporter(OutboxStore* store, Registry* registry, Clock* clock)
      : store_(store), registry_(registry), clock_(clock) {}

  // Adds `count` to the company's hour containing `at`. Durable on return.
  absl::Status AddRequestCount(uint64_t company_id, uint64_t count, TimeMs at);

  // Emits the reports of every finished hour not reported yet (at most the
  // last `max_backfill_hours`), one batch per hour. Returns how many events
  // were queued. Call it every minute or so; it is idempotent. On the very
  // first run it reports nothing before the current hour's predecessor.
  absl::StatusOr<uint64_t> Tick();

  // The JSON record of one report (DESIGN.md "Hourly report record").
  static std::string ReportJson(uint64_t company_id, int64_t hour, uint64_t requests);

  static constexpr int64_t kMaxBackfillHours = 48;

 private:
  absl::StatusOr<uint64_t> ReportHour(int64_t hour);

  OutboxStore* store_;
  Registry* registry_;
  Clock* clock_;
  Mutex mu_;  // one Tick at a time
};

}  // namespace outboxd
