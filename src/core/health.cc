#include "outboxd/health.h"

#include <algorithm>

namespace outboxd {

int64_t HealthWindow::WindowMinutes() const {
  // A window that is not a whole number of minutes covers the partial one.
  return std::max<int64_t>(1, (options_.window_ms + kMinuteMs - 1) / kMinuteMs);
}

void HealthWindow::Expire(int64_t now_minute) {
  const int64_t newest_outside = now_minute - WindowMinutes();
  while (!buckets_.empty() && buckets_.front().minute <= newest_outside) {
    buckets_.pop_front();
  }
}

void HealthWindow::Add(int64_t minute, uint64_t requests, uint64_t failures) {
  if (requests == 0 && failures == 0) return;
  if (buckets_.empty() || minute > buckets_.back().minute) {
    buckets_.push_back({minute, requests, failures});
    Expire(minute);
    return;
  }
  // Out of order (a rebuild from storage, or a late result).
  if (minute <= buckets_.back().minute - WindowMinutes()) return;
  auto it = std::lower_bound(buckets_.begin(), buckets_.end(), minute,
                             [](const Bucket& b, int64_t m) { return b.minute < m; });
  if (it != buckets_.end() && it->minute == minute) {
    it->requests += requests;
    it->failures += failures;
  } else {
    buckets_.insert(it, {minute, requests, failures});
  }
}

HealthTotals HealthWindow::Totals(TimeMs now) {
  const int64_t now_minute = MinuteOf(now);
  Expire(now_minute);
  HealthTotals totals;
  // At most window-minutes buckets: cheap next to the request it follows.
  for (const Bucket& b : buckets_) {
    if (b.minute > now_minute) break;  // recorded "after" now: a clock step back
    totals.requests += b.requests;
    totals.failures += b.failures;
  }
  return totals;
}

bool HealthWindow::Tripped(TimeMs now) {
  const HealthTotals totals = Totals(now);
  return totals.requests > 0 && totals.requests >= options_.min_requests &&
         totals.ratio() >= options_.threshold;
}

}  // namespace outboxd
