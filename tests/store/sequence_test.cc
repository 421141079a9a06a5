// The sequence lease allocator on its own, with a scripted persist function.

#include "store/sequence.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace outboxd::store_internal {
namespace {

struct Persisted {
  std::vector<uint64_t> limits;
  bool fail = false;
};

SequenceAllocator::PersistFn Recorder(Persisted* p) {
  return [p](uint64_t limit) {
    if (p->fail) return absl::UnavailableError("disk gone");
    p->limits.push_back(limit);
    return absl::OkStatus();
  };
}

TEST(SequenceTest, PersistsALeaseBeforeHandingOutNumbers) {
  Persisted p;
  auto alloc = SequenceAllocator::Create(1, 4, Recorder(&p));
  ASSERT_TRUE(alloc.ok());
  EXPECT_EQ(p.limits, std::vector<uint64_t>{5});
  for (uint64_t want = 1; want <= 4; ++want) EXPECT_EQ(*(*alloc)->Next(), want);
  EXPECT_EQ(p.limits.size(), 1u);
  EXPECT_EQ(*(*alloc)->Next(), 5u);  // extends first
  EXPECT_EQ(p.limits, (std::vector<uint64_t>{5, 9}));
  EXPECT_EQ((*alloc)->limit(), 9u);
}

TEST(SequenceTest, BlocksAreConsecutiveAndCoveredByThePersistedLease) {
  Persisted p;
  auto alloc = SequenceAllocator::Create(1, 4, Recorder(&p));
  ASSERT_TRUE(alloc.ok());
  EXPECT_EQ(*(*alloc)->NextBlock(3), 1u);  // 1..3, inside the first lease (5)
  EXPECT_EQ(p.limits, std::vector<uint64_t>{5});
  // 4..13 runs past the lease: the lease covering 13 is persisted first.
  EXPECT_EQ(*(*alloc)->NextBlock(10), 4u);
  EXPECT_GT((*alloc)->limit(), 13u);
  EXPECT_EQ(p.limits.back(), (*alloc)->limit());
  EXPECT_EQ(*(*alloc)->Next(), 14u);  // single numbers continue after the block
  EXPECT_FALSE((*alloc)->NextBlock(0).ok());
}

TEST(SequenceTest, RestartFromPersistedLeaseNeverRepeats) {
  Persisted p;
  auto first = SequenceAllocator::Create(1, 1000, Recorder(&p));
  ASSERT_TRUE(first.ok());
  uint64_t highest = 0;
  for (int i = 0; i < 10; ++i) highest = *(*first)->Next();
  // "Crash": a new allocator starts at the last persisted limit.
  auto second = SequenceAllocator::Create(p.limits.back(), 1000, Recorder(&p));
  ASSERT_TRUE(second.ok());
  EXPECT_GT(*(*second)->Next(), highest);
}

TEST(SequenceTest, FailedExtensionBurnsTheNumberAndRetriesLater) {
  Persisted p;
  auto alloc = SequenceAllocator::Create(1, 2, Recorder(&p));
  ASSERT_TRUE(alloc.ok());
  EXPECT_EQ(*(*alloc)->Next(), 1u);
  EXPECT_EQ(*(*alloc)->Next(), 2u);
  p.fail = true;
  absl::StatusOr<uint64_t> s = (*alloc)->Next();
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  p.fail = false;
  s = (*alloc)->Next();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, 4u);  // 3 was burned
  EXPECT_LT(*s, (*alloc)->limit());
}

TEST(SequenceTest, CreateFailsWhenLeaseCannotBePersisted) {
  Persisted p;
  p.fail = true;
  EXPECT_FALSE(SequenceAllocator::Create(1, 10, Recorder(&p)).ok());
  EXPECT_FALSE(SequenceAllocator::Create(0, 10, Recorder(&p)).ok());
}

TEST(SequenceTest, ConcurrentCallersGetDistinctNumbersBelowTheLease) {
  std::atomic<int> persists{0};
  std::atomic<uint64_t> persisted_limit{0};
  auto alloc = SequenceAllocator::Create(1, 64, [&](uint64_t limit) {
    persists.fetch_add(1);
    persisted_limit.store(limit);
    return absl::OkStatus();
  });
  ASSERT_TRUE(alloc.ok());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 5000;
  std::vector<std::vector<uint64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        uint64_t s = *(*alloc)->Next();
        // A number is only handed out once a lease above it is durable.
        EXPECT_LT(s, persisted_limit.load());
        got[t].push_back(s);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<uint64_t> all;
  for (auto& g : got) all.insert(all.end(), g.begin(), g.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
  EXPECT_EQ(all.size(), size_t{kThreads * kPerThread});
  EXPECT_GT(persisted_limit.load(), all.back());
  // One durable write per lease of 64 numbers, never one per number: each
  // extension moves the lease at least 64 past the last one (more when
  // concurrent callers overshoot it, so there is no useful lower bound).
  EXPECT_LE(persists.load(), kThreads * kPerThread / 64 + 2);
}

}  // namespace
}  // namespace outboxd::store_internal
