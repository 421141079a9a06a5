#include "store/fresh_list.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace outboxd::store_internal {
namespace {

Delivery At(TimeMs due, uint64_t seq, size_t bytes = 10) {
  Delivery d;
  d.key = {1, due, seq};
  d.event = std::string(bytes, 'e');
  return d;
}

void Write(FreshList& list, std::vector<Delivery> ds) {
  for (Delivery& d : ds) list.Append(std::move(d));
  list.Sort();
}

std::vector<uint64_t> Take(FreshList& list, TimeMs now, size_t max = 100) {
  std::vector<Delivery> out;
  const size_t n = list.TakeDue(now, max, &out);
  EXPECT_EQ(n, out.size());
  std::vector<uint64_t> seqs;
  for (const Delivery& d : out) seqs.push_back(d.key.seq);
  return seqs;
}

TEST(FreshListTest, TakesInKeyOrderWhatIsDueUpToTheLimit) {
  FreshList list;
  EXPECT_TRUE(list.empty());
  Write(list, {At(10, 1), At(10, 2), At(20, 3), At(20, 4)});
  EXPECT_EQ(list.size(), 4u);
  EXPECT_EQ(list.front().key.seq, 1u);
  EXPECT_TRUE(Take(list, 5).empty());
  EXPECT_EQ(Take(list, 15, 1), (std::vector<uint64_t>{1}));
  EXPECT_EQ(Take(list, 15), (std::vector<uint64_t>{2}));  // 3 is not due
  EXPECT_EQ(list.front().key.seq, 3u);
  EXPECT_EQ(Take(list, 20), (std::vector<uint64_t>{3, 4}));
  EXPECT_TRUE(list.empty());
}

TEST(FreshListTest, AWriteInAnyOrderIsSorted) {
  FreshList list;
  Write(list, {At(20, 7), At(10, 9), At(10, 8)});
  EXPECT_EQ(Take(list, 100), (std::vector<uint64_t>{8, 9, 7}));
}

TEST(FreshListTest, AWriteCommittedLateIsMergedBetweenTheListedKeys) {
  FreshList list;
  Write(list, {At(10, 1), At(10, 2)});
  Write(list, {At(10, 6), At(10, 7), At(10, 8)});
  Write(list, {At(10, 3), At(10, 4), At(10, 5)});  // numbered before the last write
  Write(list, {At(5, 9)});                         // due before everything listed
  EXPECT_EQ(Take(list, 100), (std::vector<uint64_t>{9, 1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(FreshListTest, MergesOnlyWithTheUntakenPart) {
  FreshList list;
  Write(list, {At(10, 1), At(10, 2), At(10, 5)});
  EXPECT_EQ(Take(list, 10, 2), (std::vector<uint64_t>{1, 2}));
  Write(list, {At(10, 4), At(10, 3)});
  EXPECT_EQ(Take(list, 10), (std::vector<uint64_t>{3, 4, 5}));
}

TEST(FreshListTest, TakenSlotsAreReusedBeforeTheListGrows) {
  FreshList list;
  uint64_t seq = 0;
  Write(list, {At(1, seq++), At(1, seq++), At(1, seq++), At(1, seq++)});
  const size_t held = list.held_bytes();
  // A steady queue: one in, one out, never more than four listed.
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(Take(list, 1, 1), (std::vector<uint64_t>{seq - 4}));
    Write(list, {At(1, seq++)});
    ASSERT_EQ(list.held_bytes(), held) << "round " << i;
  }
  EXPECT_EQ(Take(list, 1), (std::vector<uint64_t>{seq - 4, seq - 3, seq - 2, seq - 1}));
}

TEST(FreshListTest, CountsListedAndHeldBytes) {
  FreshList list;
  EXPECT_EQ(list.listed_bytes(), 0u);
  EXPECT_EQ(list.held_bytes(), 0u);
  Write(list, {At(1, 1, 100), At(1, 2, 200)});
  EXPECT_EQ(list.listed_bytes(), 2 * sizeof(Delivery) + 300);
  EXPECT_GE(list.held_bytes(), list.listed_bytes());
  Take(list, 1, 1);
  EXPECT_EQ(list.listed_bytes(), sizeof(Delivery) + 200);
  Take(list, 1);
  EXPECT_EQ(list.listed_bytes(), 0u);
  EXPECT_GE(list.held_bytes(), 2 * sizeof(Delivery));  // the emptied list keeps its slots
  list.Clear();
  EXPECT_EQ(list.held_bytes(), 0u);
  EXPECT_TRUE(list.empty());
}

}  // namespace
}  // namespace outboxd::store_internal
