#include "daemon/allocator.h"

#include <malloc.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace outboxd {
namespace {

std::vector<std::string> Names(const std::vector<AllocatorSetting>& settings) {
  std::vector<std::string> out;
  for (const AllocatorSetting& s : settings) out.push_back(s.tunable);
  return out;
}

TEST(AllocatorTest, DefaultsKeepLargeBlocksInTheHeap) {
  std::vector<AllocatorSetting> s = AllocatorSettings(nullptr);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].tunable, "glibc.malloc.mmap_threshold");
  EXPECT_EQ(s[0].param, M_MMAP_THRESHOLD);
  EXPECT_EQ(s[0].value, size_t{32} << 20);  // glibc's maximum on 64-bit
  EXPECT_EQ(s[1].tunable, "glibc.malloc.trim_threshold");
  EXPECT_EQ(s[1].param, M_TRIM_THRESHOLD);
  // Above a per-thread heap's 64 MiB: those heaps are never trimmed.
  EXPECT_GT(s[1].value, size_t{64} << 20);
  EXPECT_EQ(s[2].tunable, "glibc.malloc.top_pad");
  EXPECT_EQ(s[2].param, M_TOP_PAD);
  // Sixteen 1 MiB memtable arena blocks: a new heap is usable, and advised for
  // huge pages, that far in one piece.
  EXPECT_EQ(s[2].value, size_t{16} << 20);
}

TEST(AllocatorTest, OtherTunablesChangeNothing) {
  EXPECT_EQ(Names(AllocatorSettings("")), Names(AllocatorSettings(nullptr)));
  EXPECT_EQ(Names(AllocatorSettings("glibc.malloc.hugetlb=1")),
            Names(AllocatorSettings(nullptr)));
  // A name that only starts like one of ours is another tunable.
  EXPECT_EQ(Names(AllocatorSettings("glibc.malloc.trim_threshold_x=5")),
            Names(AllocatorSettings(nullptr)));
}

TEST(AllocatorTest, TheOperatorsTunablesWin) {
  EXPECT_EQ(
      Names(AllocatorSettings("glibc.malloc.hugetlb=1:glibc.malloc.trim_threshold=0")),
      (std::vector<std::string>{"glibc.malloc.mmap_threshold", "glibc.malloc.top_pad"}));
  EXPECT_EQ(
      Names(AllocatorSettings("glibc.malloc.mmap_threshold=131072")),
      (std::vector<std::string>{"glibc.malloc.trim_threshold", "glibc.malloc.top_pad"}));
  EXPECT_EQ(Names(AllocatorSettings("glibc.malloc.top_pad=0")),
            (std::vector<std::string>{"glibc.malloc.mmap_threshold",
                                      "glibc.malloc.trim_threshold"}));
  EXPECT_TRUE(
      AllocatorSettings("glibc.malloc.mmap_threshold=1:glibc.malloc.trim_threshold="
                        "1:glibc.malloc.top_pad=1")
          .empty());
}

TEST(AllocatorTest, PrefaultHeapTouchesWhatItIsAsked) {
  EXPECT_EQ(PrefaultHeap(0), 0u);
  EXPECT_EQ(PrefaultHeap((size_t{7} << 20) / 2), (size_t{7} << 20) / 2);  // 3.5 MiB
  EXPECT_EQ(PrefaultHeap(5000), 5000u);
}

long MinorFaultsOfThisThread() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

TEST(AllocatorTest, AfterPrefaultingTheThreadsAllocationsFaultNoPages) {
  // mallopt is ignored under the sanitizers' allocators.
  if (TuneAllocator().empty()) GTEST_SKIP() << "malloc settings not applied";
  constexpr size_t kMiB = size_t{1} << 20;
  constexpr int kBlocks = 24;
  auto touch_blocks = [] {
    // What a memtable does: 1 MiB blocks, every page written.
    std::vector<char*> blocks;
    for (int i = 0; i < kBlocks; ++i) {
      blocks.push_back(static_cast<char*>(std::malloc(kMiB)));
      std::memset(blocks.back(), 1, kMiB);
    }
    for (char* b : blocks) std::free(b);
  };
  long cold = 0, warm = 0;
  // Two threads alive at once, so each has a malloc heap of its own that
  // nothing has touched yet (a thread that exits hands its heap, pages and
  // all, to the next thread started).
  std::latch measured(2);
  std::thread prefaulted([&] {
    EXPECT_EQ(PrefaultHeap(32 * kMiB), 32 * kMiB);
    const long before = MinorFaultsOfThisThread();
    touch_blocks();
    warm = MinorFaultsOfThisThread() - before;
    measured.arrive_and_wait();
  });
  std::thread not_prefaulted([&] {
    const long before = MinorFaultsOfThisThread();
    touch_blocks();
    cold = MinorFaultsOfThisThread() - before;
    measured.arrive_and_wait();
  });
  prefaulted.join();
  not_prefaulted.join();
  // 24 MiB is 6,144 pages of 4 KiB (fewer with transparent huge pages).
  EXPECT_GT(cold, 1000);
  EXPECT_LT(warm, 100) << "cold " << cold;
}

}  // namespace
}  // namespace outboxd
