// absl::Notification's shape over api_internal::Mutex, so ThreadSanitizer
// sees the hand-off (see src/api/mutex.h).
#pragma once

#include <chrono>

#include "api/mutex.h"

namespace outboxd {

class Notification {
 public:
  void Notify() {
    api_internal::MutexLock lock(&mu_);
    notified_ = true;
  }
  void Wait() {
    api_internal::MutexLock lock(&mu_);
    mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return notified_; });
  }
  // True when notified within `timeout`.
  bool WaitFor(std::chrono::nanoseconds timeout) {
    api_internal::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(
        [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return notified_; }, timeout);
  }

 private:
  api_internal::Mutex mu_;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace outboxd
