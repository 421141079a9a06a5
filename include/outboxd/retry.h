// The fixed retry schedule (DESIGN.md "Delivery rules") and Retry-After.
//
// After the n-th failed request for a delivery (n = 1, 2, ...), it is due
// again after RetryDelayMs(n):
//   n = 1..5    1, 3, 5, 10, 10 s            (cycle 1)
//   n = 6..10   0, 1, 3, 5, 30 s             (cycle 2)
//   n = 11..16  1, 1, 3, 5, 10, 30 min       (cycle 3)
//   n >= 17     30 min
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "outboxd/clock.h"

namespace outboxd {

// Delay after the `failures`-th failed request (failures >= 1; 0 is treated
// as 1).
TimeMs RetryDelayMs(uint32_t failures);

// Parses a Retry-After header value: delta-seconds ("120") or an HTTP date.
// Returns the delay in ms relative to `now` (0 for a date in the past), or
// nullopt when the value is neither.
std::optional<TimeMs> ParseRetryAfter(std::string_view value, TimeMs now);

struct RetryPolicy {
  // A delivery first enqueued longer ago than this is given up (moved to
  // `dead`) instead of being retried. Default 7 days.
  TimeMs max_age_ms = 7 * 24 * kHourMs;
};

struct RetryDecision {
  bool dead = false;  // past max age: move to `dead`
  TimeMs due_ms = 0;  // when !dead: the next due time
};

// The decision after a failed request: the schedule's delay for `failures`,
// or `retry_after_ms` when that is longer.
RetryDecision NextAttempt(const RetryPolicy& policy, TimeMs now, TimeMs first_enqueued_ms,
                          uint32_t failures, std::optional<TimeMs> retry_after_ms);

}  // namespace outboxd
