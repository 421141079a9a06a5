// absl::Notification's shape over Mutex, so ThreadSanitizer
// sees the hand-off (see include/outboxd/mutex.h).
#pragma once

#include <chrono>

#include "outboxd/mutex.h"

namespace outboxd {

class Notification {
 public:
  void Notify() {
    MutexLock lock(&mu_);
    notified_ = true;
  }
  void Wait() {
    MutexLock lock(&mu_);
    mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return notified_; });
  }
  // True when notified within `timeout`.
  bool WaitFor(std::chrono::nanoseconds timeout) {
    MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(
        [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return notified_; }, timeout);
  }

 private:
  Mutex mu_;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace outboxd
