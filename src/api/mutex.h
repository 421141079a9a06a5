// A std::mutex with Abseil's thread-safety annotations and absl::Mutex-like
// waiting on a condition.
//
// Why not absl::Mutex: Debian's prebuilt abseil is not compiled for
// ThreadSanitizer, so TSan cannot see absl::Mutex's happens-before edges and
// reports false races on every field it guards. std::mutex and
// std::condition_variable go through pthreads, which TSan intercepts.
// (src/store does the same for the same reason.)
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace outboxd::api_internal {

class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  // Wakes every waiter to re-check its condition, as absl::Mutex does. The
  // notification comes before the unlock: a woken waiter may destroy this
  // Mutex as soon as it is free, so nothing touches it afterwards.
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    cv_.notify_all();
    mu_.unlock();
  }

  // With the lock held: waits until `done()` (evaluated under the lock).
  // Waiting releases the lock, so other waiters are woken first to see what
  // this thread changed while holding it.
  template <typename Fn>
  void Await(Fn done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    cv_.notify_all();
    cv_.wait(lock, done);
    lock.release();
  }

  // Like Await, for at most `timeout`. Returns done().
  template <typename Fn>
  bool AwaitWithTimeout(Fn done, std::chrono::nanoseconds timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    cv_.notify_all();
    const bool result = cv_.wait_for(lock, timeout, done);
    lock.release();
    return result;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

}  // namespace outboxd::api_internal
