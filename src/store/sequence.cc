#include "store/sequence.h"

#include <utility>

namespace outboxd::store_internal {

SequenceAllocator::SequenceAllocator(uint64_t first, uint64_t step, PersistFn persist)
    : step_(step), persist_(std::move(persist)), next_(first), limit_(first) {}

absl::StatusOr<std::unique_ptr<SequenceAllocator>> SequenceAllocator::Create(
    uint64_t first, uint64_t step, PersistFn persist) {
  if (step == 0 || first == 0 || first > UINT64_MAX - step) {
    return absl::InvalidArgumentError("sequence lease out of range");
  }
  std::unique_ptr<SequenceAllocator> alloc(
      new SequenceAllocator(first, step, std::move(persist)));
  absl::Status s = alloc->persist_(first + step);
  if (!s.ok()) return s;
  alloc->limit_.store(first + step, std::memory_order_release);
  return alloc;
}

absl::StatusOr<uint64_t> SequenceAllocator::Next() { return NextBlock(1); }

absl::StatusOr<uint64_t> SequenceAllocator::NextBlock(uint64_t n) {
  if (n == 0) return absl::InvalidArgumentError("sequence block size 0");
  const uint64_t first = next_.fetch_add(n, std::memory_order_relaxed);
  if (first > UINT64_MAX - (n - 1)) return absl::ResourceExhaustedError("sequence space");
  const uint64_t last = first + (n - 1);
  if (last < limit_.load(std::memory_order_acquire)) return first;
  absl::StatusOr<uint64_t> extended = ExtendAndTake(last);
  if (!extended.ok()) return extended.status();
  return first;
}

absl::StatusOr<uint64_t> SequenceAllocator::ExtendAndTake(uint64_t seq) {
  MutexLock lock(&extend_mu_);
  // Another thread may have extended the lease past `seq` meanwhile.
  while (limit_.load(std::memory_order_relaxed) <= seq) {
    if (seq > UINT64_MAX - step_) return absl::ResourceExhaustedError("sequence space");
    const uint64_t new_limit = seq + step_;
    absl::Status s = persist_(new_limit);
    if (!s.ok()) return s;
    limit_.store(new_limit, std::memory_order_release);
  }
  return seq;
}

}  // namespace outboxd::store_internal
