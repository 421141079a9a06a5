// A std::mutex with Abseil's thread-safety annotations.
//
// Why not absl::Mutex: Debian's prebuilt abseil is not compiled for
// ThreadSanitizer, so TSan cannot see absl::Mutex's happens-before edges and
// reports false races on every guarded field. std::mutex goes through
// pthread_mutex_*, which TSan intercepts, so the tsan suite stays meaningful.
#pragma once

#include <mutex>

#include "absl/base/thread_annotations.h"

namespace outboxd::store_internal {

class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  std::mutex mu_;
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

}  // namespace outboxd::store_internal
