// Counters fake_sentinel answers on GET /stats. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "outboxd/mutex.h"

namespace outboxd::fake_sentinel {

class Stats {
 public:
  void ConnectionOpened();
  void ConnectionClosed();
  // An /api/logs request arrived and is now waiting for its answer.
  void RequestStarted();
  // That request is over: answered with `status`, or 0 when it got none
  // (reset, timeout).
  void RequestFinished(int status);
  void RecordsAccepted(size_t records);
  void Reset();
  void TimedOut();

  // {"requests", "accepted_requests", "accepted_records", "by_status": {"200": n},
  //  "in_flight", "peak_in_flight", "connections", "open_connections",
  //  "resets", "timeouts"}
  std::string Json() const;

 private:
  mutable Mutex mu_;
  uint64_t requests_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t accepted_requests_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t accepted_records_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, uint64_t> by_status_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  size_t peak_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t connections_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t open_connections_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t resets_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t timeouts_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace outboxd::fake_sentinel
