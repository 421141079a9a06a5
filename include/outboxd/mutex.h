// A std::mutex with Abseil's thread-safety annotations and absl::Mutex-like
// waiting on a condition (Await).
//
// Why not absl::Mutex: Debian's prebuilt abseil is not compiled for
// ThreadSanitizer, so TSan cannot see absl::Mutex's happens-before edges and
// reports false races on every field it guards. std::mutex and
// std::condition_variable go through pthreads, which TSan intercepts, so the
// tsan suites stay meaningful.
//
// Example:
//   Mutex mu;
//   bool ready ABSL_GUARDED_BY(mu) = false;
//   { MutexLock lock(&mu); ready = true; }          // wakes waiters on unlock
//   { MutexLock lock(&mu); mu.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return ready; }); }
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#include "absl/base/thread_annotations.h"

namespace outboxd {

class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }

  // Wakes every waiter to re-check its condition, as absl::Mutex does (only
  // when some thread waits: an uncontended unlock stays a plain unlock). The
  // notification comes before the unlock: a woken waiter may destroy this
  // Mutex as soon as it is free, so nothing touches it afterwards.
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    if (waiters_ > 0) cv_.notify_all();
    mu_.unlock();
  }

  // With the lock held: waits until `done()` (evaluated under the lock).
  // Waiting releases the lock, so other waiters are woken first to see what
  // this thread changed while holding it.
  template <typename Fn>
  void Await(Fn done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    if (waiters_ > 0) cv_.notify_all();
    ++waiters_;
    cv_.wait(lock, done);
    --waiters_;
    lock.release();
  }

  // Like Await, for at most `timeout`. Returns done().
  template <typename Fn>
  bool AwaitWithTimeout(Fn done, std::chrono::nanoseconds timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    if (waiters_ > 0) cv_.notify_all();
    ++waiters_;
    const bool result = cv_.wait_for(lock, timeout, done);
    --waiters_;
    lock.release();
    return result;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiters_ = 0;  // guarded by mu_
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A readers-writer lock (std::shared_mutex, which TSan sees through
// pthread_rwlock) with the same annotations: many readers or one writer.
class ABSL_LOCKABLE SharedMutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  void ReaderLock() ABSL_SHARED_LOCK_FUNCTION() { mu_.lock_shared(); }
  void ReaderUnlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

class ABSL_SCOPED_LOCKABLE WriterMutexLock {
 public:
  explicit WriterMutexLock(SharedMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~WriterMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  WriterMutexLock(const WriterMutexLock&) = delete;
  WriterMutexLock& operator=(const WriterMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

class ABSL_SCOPED_LOCKABLE ReaderMutexLock {
 public:
  explicit ReaderMutexLock(SharedMutex* mu) ABSL_SHARED_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->ReaderLock();
  }
  ~ReaderMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->ReaderUnlock(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

}  // namespace outboxd
