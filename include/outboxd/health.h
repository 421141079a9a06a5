// The failure rule's sliding window (DESIGN.md "Failure rule").
//
// Per integration: minute buckets of (requests, failures) over a sliding
// window. The rule trips when, within the window, requests >= min_requests
// and failures / requests >= threshold. Pure in-memory state: the store
// persists the same buckets in the `stats` column family and the window is
// rebuilt from them on open (HealthWindow::Add for every stored bucket).
#pragma once

#include <cstdint>
#include <deque>

#include "outboxd/clock.h"

namespace outboxd {

struct HealthOptions {
  TimeMs window_ms = 12 * kHourMs;
  double threshold = 0.6;
  // Requests the window must hold before the rule applies. 20: one batch's
  // first three retry cycles are 16 requests over ~52 minutes, so a single
  // stuck batch (or a new Azure workspace during its documented first hour of
  // errors) cannot disable an integration on its own; a real outage of any
  // busy integration still reaches it within minutes.
  uint64_t min_requests = 20;
};

struct HealthTotals {
  uint64_t requests = 0;
  uint64_t failures = 0;
  double ratio() const {
    return requests == 0 ? 0.0 : static_cast<double>(failures) / static_cast<double>(requests);
  }
};

// Minute index of a timestamp (floor(t / 60 s)).
inline int64_t MinuteOf(TimeMs t) {
  return t >= 0 ? t / kMinuteMs : -((-t + kMinuteMs - 1) / kMinuteMs);
}

// One integration's window. Not thread-safe: owned by the dispatcher thread.
class HealthWindow {
 public:
  explicit HealthWindow(HealthOptions options = {}) : options_(options) {}

  // Adds counts to the bucket of `minute`. Buckets may arrive in any order
  // (rebuild from storage); counts for a minute already outside the window
  // as of the latest minute seen are dropped.
  void Add(int64_t minute, uint64_t requests, uint64_t failures);
  // Records one request's outcome at time `now`.
  void Record(TimeMs now, bool failed) { Add(MinuteOf(now), 1, failed ? 1 : 0); }

  // Totals of the buckets inside the window ending at `now`: minutes in
  // (MinuteOf(now) - window_minutes, MinuteOf(now)].
  HealthTotals Totals(TimeMs now);
  // True when the rule is met as of `now`.
  bool Tripped(TimeMs now);
  // Forgets everything (enabling an integration clears its window).
  void Clear() { buckets_.clear(); }

  const HealthOptions& options() const { return options_; }

 private:
  struct Bucket {
    int64_t minute;
    uint64_t requests;
    uint64_t failures;
  };
  int64_t WindowMinutes() const;
  void Expire(int64_t now_minute);

  HealthOptions options_;
  std::deque<Bucket> buckets_;  // ascending by minute, sparse
};

}  // namespace outboxd
