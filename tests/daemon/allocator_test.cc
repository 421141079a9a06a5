#include "daemon/allocator.h"

#include <malloc.h>

#include <string>
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
  // Two 8 MiB memtable arena blocks: a new heap is usable, and advised for
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

}  // namespace
}  // namespace outboxd
