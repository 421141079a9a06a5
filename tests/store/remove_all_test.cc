// Changes::RemoveAll: delivered keys removed as range tombstones over runs
// of consecutive sequence numbers, and as SingleDeletes otherwise. The
// property that matters: exactly the given keys vanish, never a neighbour.

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "outboxd/store.h"
#include "store_test_util.h"

namespace outboxd {
namespace {

using store_test::ScanEverything;
using store_test::Seqs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

constexpr TimeMs kT0 = 1'700'000'000'000;

class RemoveAllTest : public store_test::StoreFixture {
 protected:
  // `n` deliveries for `id`, all due at `due`, in one batch.
  std::vector<DeliveryKey> Enqueue(uint64_t id, int n, TimeMs due) {
    Changes c = store_->NewChanges();
    std::vector<DeliveryKey> keys;
    for (int i = 0; i < n; ++i) {
      keys.push_back(
          c.Enqueue(id, "new_hits", "{\"n\":" + std::to_string(i) + "}", due, kT0));
    }
    EXPECT_TRUE(store_->Apply(std::move(c)).ok());
    return keys;
  }
  absl::Status RemoveAll(std::vector<DeliveryKey> keys) {
    return ApplyOne([&](Changes& c) { c.RemoveAll(std::move(keys)); });
  }
};

TEST_F(RemoveAllTest, OneBatchGetsConsecutiveSequenceNumbersPerIntegration) {
  Changes c = store_->NewChanges();
  std::vector<DeliveryKey> a, b;
  for (int i = 0; i < 300; ++i) {  // interleaved: each integration still gets a run
    a.push_back(c.Enqueue(1, "t", "{}", kT0, kT0));
    b.push_back(c.Enqueue(2, "t", "{}", kT0, kT0));
  }
  ASSERT_TRUE(store_->Apply(std::move(c)).ok());
  size_t breaks_a = 0, breaks_b = 0;
  for (size_t i = 1; i < a.size(); ++i) {
    breaks_a += a[i].seq != a[i - 1].seq + 1;
    breaks_b += b[i].seq != b[i - 1].seq + 1;
  }
  // Blocks of 16, 64, then 256: a break where one block ends and the next
  // (drawn after the other integration's) begins.
  EXPECT_LE(breaks_a, 3u);
  EXPECT_LE(breaks_b, 3u);
}

TEST_F(RemoveAllTest, RemovesExactlyTheGivenKeys) {
  const std::vector<DeliveryKey> before = Enqueue(5, 3, kT0 - 1);
  std::vector<DeliveryKey> keys = Enqueue(5, 100, kT0);
  const std::vector<DeliveryKey> after = Enqueue(5, 3, kT0);  // same due, later seqs
  const std::vector<DeliveryKey> neighbour = Enqueue(6, 10, kT0);
  // Keep three keys inside the run: #0, #41 and #99 (ends and middle).
  std::vector<uint64_t> kept = {keys[0].seq, keys[41].seq, keys[99].seq};
  std::vector<DeliveryKey> delivered;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i != 0 && i != 41 && i != 99) delivered.push_back(keys[i]);
  }
  ASSERT_TRUE(RemoveAll(delivered).ok());

  std::vector<uint64_t> want;
  for (const DeliveryKey& k : before) want.push_back(k.seq);
  want.insert(want.end(), kept.begin(), kept.end());
  for (const DeliveryKey& k : after) want.push_back(k.seq);
  EXPECT_THAT(Seqs(ScanEverything(*store_, 5)), ElementsAreArray(want));
  EXPECT_EQ(store_->QueuedCount(5), want.size());
  EXPECT_EQ(Seqs(ScanEverything(*store_, 6)).size(), neighbour.size());

  // The same after a flush to table files and a reopen.
  ASSERT_TRUE(store_->Flush().ok());
  Reopen();
  EXPECT_THAT(Seqs(ScanEverything(*store_, 5)), ElementsAreArray(want));
  EXPECT_EQ(store_->QueuedCount(5), want.size());
  ASSERT_TRUE(store_->CompactOutbox().ok());
  EXPECT_THAT(Seqs(ScanEverything(*store_, 5)), ElementsAreArray(want));
}

TEST_F(RemoveAllTest, KeysInAnyOrderAcrossIntegrationsAndDueTimes) {
  std::vector<DeliveryKey> all;
  for (uint64_t id : {3u, 4u}) {
    for (TimeMs due : {kT0, kT0 + 5}) {
      std::vector<DeliveryKey> k = Enqueue(id, 20, due);
      all.insert(all.end(), k.rbegin(), k.rend());  // reversed
    }
  }
  const std::vector<DeliveryKey> stays = Enqueue(3, 1, kT0 + 2);
  ASSERT_TRUE(RemoveAll(all).ok());
  EXPECT_THAT(Seqs(ScanEverything(*store_, 3)), ElementsAre(stays[0].seq));
  EXPECT_THAT(ScanEverything(*store_, 4), IsEmpty());
  EXPECT_EQ(store_->QueuedCount(3), 1u);
  EXPECT_EQ(store_->QueuedCount(4), 0u);
  EXPECT_EQ(store_->OldestDue(3).value(), kT0 + 2);
}

TEST_F(RemoveAllTest, ShortRunsAndSingleKeys) {
  std::vector<DeliveryKey> keys = Enqueue(8, 5, kT0);  // below the range threshold
  ASSERT_TRUE(RemoveAll({keys[1], keys[2], keys[4]}).ok());
  EXPECT_THAT(Seqs(ScanEverything(*store_, 8)), ElementsAre(keys[0].seq, keys[3].seq));
  ASSERT_TRUE(RemoveAll({}).ok());
  EXPECT_EQ(store_->QueuedCount(8), 2u);
}

// Ranges and point writes interleaved in one memtable. The range's begin key
// must stay outside the memtable insert hint's domain: RocksDB 7.8 (Debian's,
// built with assertions) aborts in InlineSkipList::Insert when a hint from
// the point skip list is used in the range-tombstone one.
TEST_F(RemoveAllTest, InterleavedWithEnqueuesAndPurges) {
  std::vector<DeliveryKey> pending;
  for (int round = 0; round < 50; ++round) {
    std::vector<DeliveryKey> k = Enqueue(9, 40, kT0 + round);
    pending.insert(pending.end(), k.begin(), k.end());
    if (round % 2 == 1) {
      ASSERT_TRUE(RemoveAll(pending).ok());
      pending.clear();
    }
  }
  EXPECT_THAT(ScanEverything(*store_, 9), IsEmpty());
  EXPECT_EQ(store_->QueuedCount(9), 0u);
  Enqueue(9, 10, kT0 + 100);
  Changes purge = store_->NewChanges();
  purge.PurgeDeliveries(9);
  ASSERT_TRUE(store_->Apply(std::move(purge)).ok());
  EXPECT_THAT(ScanEverything(*store_, 9), IsEmpty());
  const std::vector<DeliveryKey> fresh = Enqueue(9, 12, kT0 + 200);
  EXPECT_EQ(Seqs(ScanEverything(*store_, 9)).size(), 12u);
  ASSERT_TRUE(RemoveAll(fresh).ok());
  EXPECT_THAT(ScanEverything(*store_, 9), IsEmpty());
}

}  // namespace
}  // namespace outboxd
