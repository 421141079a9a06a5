// Delivery sequence numbers: unique across the store's lifetime, never
// reused, even after a crash, without a write per allocation.
//
// A lease is persisted first ("seq_lease" in meta = the first number not yet
// covered); numbers below it are handed out from an atomic. At Open the
// allocator starts at the persisted lease, so numbers handed out before a
// crash (all below it) can never come back. Exhausting a lease takes a mutex
// and persists the next one before any number from it is returned.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "outboxd/mutex.h"

namespace outboxd::store_internal {

inline constexpr uint64_t kDefaultSeqLeaseStep = uint64_t{1} << 20;

class SequenceAllocator {
 public:
  // Durably records `limit` as the new lease (every number handed out is
  // below the last limit persisted). Must be synced before returning OK.
  using PersistFn = std::function<absl::Status(uint64_t limit)>;

  // `first` = the persisted lease (or 1 for a new store). Persists
  // first + step before returning.
  static absl::StatusOr<std::unique_ptr<SequenceAllocator>> Create(uint64_t first,
                                                                   uint64_t step,
                                                                   PersistFn persist);

  // Thread-safe. Fails only when a new lease cannot be persisted; the number
  // drawn is then burned (never returned), and a later call tries again.
  absl::StatusOr<uint64_t> Next();
  // `n` >= 1 consecutive numbers; returns the first. Same guarantees as Next.
  absl::StatusOr<uint64_t> NextBlock(uint64_t n);

  // A number at or below every number not handed out yet (the next one
  // Next would try).
  uint64_t Peek() const { return next_.load(std::memory_order_acquire); }
  // The lease currently persisted (for tests).
  uint64_t limit() const { return limit_.load(std::memory_order_acquire); }

 private:
  SequenceAllocator(uint64_t first, uint64_t step, PersistFn persist);
  absl::StatusOr<uint64_t> ExtendAndTake(uint64_t seq);

  const uint64_t step_;
  const PersistFn persist_;
  std::atomic<uint64_t> next_;
  // Written only under extend_mu_, after the lease is durable.
  std::atomic<uint64_t> limit_;
  Mutex extend_mu_;
};

}  // namespace outboxd::store_internal
