// Fresh deliveries served from memory (StoreOptions::fresh_cache_bytes):
// what is listed, what is not, and how the list hands its keys back to the
// RocksDB scans. store_test.cc runs every store test with the list on and
// off; store_concurrency_test.cc runs the races with a cap small enough to
// disarm all the time.

#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "outboxd/store.h"
#include "store_test_util.h"

namespace outboxd {
namespace {

using store_test::Scan;
using store_test::ScanEverything;
using store_test::Seqs;
using store_test::TestOptions;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

constexpr TimeMs kT0 = 1'700'000'000'000;
constexpr uint64_t kCap = 64 * 1024;

// A hit-sized event (~620 bytes): a batch of a few of them is mostly event
// bytes, as an ingest request's batch is.
std::string HitSized(std::string_view id) {
  return R"({"id":")" + std::string(id) + R"(","pad":")" + std::string(600, 'p') + "\"}";
}

class FreshTest : public store_test::StoreFixture {
 protected:
  StoreOptions Options() override {
    StoreOptions o = TestOptions(dir_.path(), /*sync=*/false, kCap);
    o.log_only_deliveries = log_only_;
    return o;
  }
  // Integration 1 known to the index (armed), nothing queued.
  void SetUp() override {
    StoreFixture::SetUp();
    ASSERT_THAT(Scan(*store_, 1, kT0), IsEmpty());
  }
  std::vector<DeliveryKey> Enqueue(int n, TimeMs due = kT0, size_t event_bytes = 10) {
    std::vector<DeliveryKey> keys;
    EXPECT_TRUE(ApplyOne([&](Changes& c) {
                  for (int i = 0; i < n; ++i) {
                    keys.push_back(
                        c.Enqueue(1, "hits", std::string(event_bytes, 'e'), due, kT0));
                  }
                }).ok());
    return keys;
  }
  bool log_only_ = true;
};

std::vector<uint64_t> Seqs(const std::vector<DeliveryKey>& keys) {
  std::vector<uint64_t> out;
  for (const DeliveryKey& k : keys) out.push_back(k.seq);
  return out;
}

TEST_F(FreshTest, WrittenDeliveriesAreListedAndHandedOutOnceFromTheList) {
  const auto keys = Enqueue(5);
  EXPECT_GT(store_->FreshCacheBytes(), 0u);
  EXPECT_EQ(store_->NextDue(1), kT0);
  const std::vector<Delivery> got = Scan(*store_, 1, kT0);
  EXPECT_THAT(Seqs(got), ElementsAreArray(Seqs(keys)));
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].event, std::string(10, 'e'));
  EXPECT_EQ(got[0].log_type, "hits");
  EXPECT_EQ(got[0].first_enqueued_ms, kT0);
  EXPECT_EQ(store_->FreshCacheBytes(), 0u);
  EXPECT_EQ(store_->NextDue(1), kNoDue);
  EXPECT_THAT(Scan(*store_, 1, kT0), IsEmpty());
}

TEST_F(FreshTest, FreshEventsOutliveTheStoreThatHandedThemOut) {
  // A fresh event points into the WriteBatch that stored it (a batch of one
  // integration's events, hit-sized); the deliveries keep the batch alive
  // (ASan checks the reads below).
  auto event = [](int i) { return HitSized("e" + std::to_string(i)); };
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                for (int i = 0; i < 3; ++i) c.Enqueue(1, "hits", event(i), kT0, kT0);
              }).ok());
  std::vector<Delivery> got = Scan(*store_, 1, kT0);
  ASSERT_EQ(got.size(), 3u);
  store_.reset();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(got[i].event, event(i));
  // One batch, one buffer.
  EXPECT_TRUE(got[0].event.SharesStorageWith(got[1].event));
  EXPECT_TRUE(got[0].event.SharesStorageWith(got[2].event));
}

TEST_F(FreshTest, ABatchOverSeveralIntegrationsIsCopied) {
  // Were it shared, integration 2's list (say, nobody takes from it) would
  // keep integration 1's events alive with it.
  ASSERT_THAT(Scan(*store_, 2, kT0), IsEmpty());  // armed too
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                c.Enqueue(1, "hits", HitSized("a"), kT0, kT0);
                c.Enqueue(2, "hits", HitSized("b"), kT0, kT0);
                c.Enqueue(1, "hits", HitSized("c"), kT0, kT0);
              }).ok());
  std::vector<Delivery> one = Scan(*store_, 1, kT0);
  std::vector<Delivery> two = Scan(*store_, 2, kT0);
  ASSERT_EQ(one.size(), 2u);
  ASSERT_EQ(two.size(), 1u);
  EXPECT_FALSE(one[0].event.SharesStorageWith(one[1].event));
  EXPECT_FALSE(one[0].event.SharesStorageWith(two[0].event));
  store_.reset();
  EXPECT_EQ(one[1].event, HitSized("c"));
  EXPECT_EQ(two[0].event, HitSized("b"));
}

TEST_F(FreshTest, ABatchMostlyOfOtherBytesIsCopied) {
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                c.Enqueue(1, "hits", HitSized("a"), kT0, kT0);
                c.Enqueue(1, "hits", HitSized("b"), kT0, kT0);
                c.PutMeta("fresh_test", std::string(8192, 'm'));
              }).ok());
  std::vector<Delivery> got = Scan(*store_, 1, kT0);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[0].event.SharesStorageWith(got[1].event));
  EXPECT_EQ(got[1].event, HitSized("b"));
}

TEST_F(FreshTest, EventsReadBackFromRocksDbOwnTheirBytes) {
  Enqueue(2);
  Reopen();  // the list is memory only
  std::vector<Delivery> got = Scan(*store_, 1, kT0);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[0].event.SharesStorageWith(got[1].event));
  store_.reset();
  EXPECT_EQ(got[1].event, std::string(10, 'e'));
}

TEST_F(FreshTest, NotDueDeliveriesWaitInTheList) {
  const auto later = Enqueue(2, kT0 + 100);
  const auto now = Enqueue(1, kT0);
  EXPECT_EQ(store_->NextDue(1), kT0);
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 99)), ElementsAre(now[0].seq));
  EXPECT_EQ(store_->NextDue(1), kT0 + 100);
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 100, 1)), ElementsAre(later[0].seq));
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 100)), ElementsAre(later[1].seq));
}

TEST_F(FreshTest, OverTheCapTheRocksDbScanHandsOutEverythingThenTheListIsBack) {
  const auto small = Enqueue(3);
  ASSERT_GT(store_->FreshCacheBytes(), 0u);
  // One write past the cap: the integration drops its list.
  const auto big = Enqueue(20, kT0, kCap / 10);
  EXPECT_EQ(store_->FreshCacheBytes(), 0u);
  std::vector<uint64_t> all = Seqs(small);
  for (uint64_t s : Seqs(big)) all.push_back(s);
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0)), ElementsAreArray(all));
  // That scan drained the RocksDB part: later writes are listed again.
  const auto after = Enqueue(2);
  EXPECT_GT(store_->FreshCacheBytes(), 0u);
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0)), ElementsAreArray(Seqs(after)));
  EXPECT_EQ(store_->FreshCacheBytes(), 0u);
}

TEST_F(FreshTest, APendingRetryDoesNotKeepTheListOff) {
  const auto retry = Enqueue(1);
  const std::vector<Delivery> first = Scan(*store_, 1, kT0);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(ApplyOne([&](Changes& c) { c.Reschedule(first[0], kT0 + 60'000, 1); }).ok());
  // Over the cap: the list, the retry with it, goes back to RocksDB.
  const auto big = Enqueue(10, kT0, kCap / 5);
  ASSERT_EQ(store_->FreshCacheBytes(), 0u);
  // This scan hands out everything due and stops at the retry: that arms
  // the list again, although the RocksDB part still holds the retry.
  const std::vector<Delivery> held = Scan(*store_, 1, kT0);
  EXPECT_THAT(Seqs(held), ElementsAreArray(Seqs(big)));
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                for (const Delivery& d : held) c.Remove(d.key);
              }).ok());
  const auto fresh = Enqueue(2, kT0 + 1);
  EXPECT_GT(store_->FreshCacheBytes(), 0u);
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 1)), ElementsAreArray(Seqs(fresh)));
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 60'000)), ElementsAre(retry[0].seq));
}

TEST_F(FreshTest, PastHalfTheCapAListStopsListingAndGoesFirstUntilEmptied) {
  // The dispatcher is behind: 5 writes of kCap/8 pass half the cap.
  std::vector<uint64_t> listed;
  for (int i = 0; i < 5; ++i) {
    for (const DeliveryKey& k : Enqueue(1, kT0, kCap / 8)) listed.push_back(k.seq);
  }
  EXPECT_EQ(store_->FreshLists().capped, 1u);
  const uint64_t held = store_->FreshCacheBytes();
  EXPECT_GT(held, kCap / 2);
  // Later writes go to RocksDB; what is listed stays listed.
  const auto later = Seqs(Enqueue(3));
  EXPECT_EQ(store_->FreshCacheBytes(), held);
  // The capped list goes first, although RocksDB has deliveries due too.
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0, 2)), ElementsAre(listed[0], listed[1]));
  std::vector<uint64_t> rest(listed.begin() + 2, listed.end());
  rest.insert(rest.end(), later.begin(), later.end());
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0)), ElementsAreArray(rest));
  // Emptied, it lists again: nothing was dropped, no RocksDB drain needed.
  const auto again = Seqs(Enqueue(2));
  EXPECT_GT(store_->FreshCacheBytes(), 0u);
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0)), ElementsAreArray(again));
  EXPECT_EQ(store_->FreshCacheBytes(), 0u);
  EXPECT_EQ(store_->FreshLists().dropped, 0u);
}

TEST_F(FreshTest, ACappedListWithARetryNotDueYetWaitsForIt) {
  const auto first = Enqueue(1);
  const std::vector<Delivery> held = Scan(*store_, 1, kT0);
  ASSERT_EQ(held.size(), 1u);
  ASSERT_TRUE(ApplyOne([&](Changes& c) { c.Reschedule(held[0], kT0 + 60'000, 1); }).ok());
  const auto big = Seqs(Enqueue(5, kT0, kCap / 8));  // listed, then capped
  ASSERT_EQ(store_->FreshLists().capped, 1u);
  const auto later = Seqs(Enqueue(2));
  std::vector<uint64_t> due = big;
  due.insert(due.end(), later.begin(), later.end());
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0)), ElementsAreArray(due));
  // The list still holds the retry: capped, so a new write is a Put, found
  // by the RocksDB scan; the retry comes from the list when due.
  const auto put = Seqs(Enqueue(1, kT0 + 1));
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 1)), ElementsAreArray(put));
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 60'000)), ElementsAre(first[0].seq));
  const auto listed_again = Seqs(Enqueue(1, kT0 + 60'000));
  EXPECT_GT(store_->FreshCacheBytes(), 0u);
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 60'000)), ElementsAreArray(listed_again));
}

TEST_F(FreshTest, TheLargestListGoesFirstWhenOverTheCap) {
  // Integrations 2 and 3 are never scanned (their destinations are
  // paused); integration 1 is taken from as it is written.
  auto write = [&](uint64_t id, size_t bytes) {
    DeliveryKey key;
    EXPECT_TRUE(ApplyOne([&](Changes& c) {
                  key = c.Enqueue(id, "hits", std::string(bytes, 'e'), kT0, kT0);
                }).ok());
    return key;
  };
  // (The first write creates and arms 2 after its seq was drawn: not listed.)
  for (int i = 0; i < 4; ++i) write(2, kCap / 8);
  write(2, kCap * 3 / 8);  // 3 + 1 listed: past half the cap, capped
  ASSERT_EQ(store_->FreshLists().capped, 1u);
  const uint64_t held_by_2 = store_->FreshCacheBytes();
  for (int i = 0; i < 3; ++i) write(2, kCap / 8);  // not listed
  EXPECT_EQ(store_->FreshCacheBytes(), held_by_2);
  for (int i = 0; i < 6; ++i) {
    const DeliveryKey key = write(1, kCap / 8);
    EXPECT_THAT(Seqs(Scan(*store_, 1, kT0)), ElementsAre(key.seq)) << i;
  }
  // 3's list grows past what is left of the cap: the largest list (2's)
  // is dropped, 3's and 1's are kept.
  EXPECT_EQ(store_->FreshLists().dropped, 0u);
  for (int i = 0; i < 5; ++i) write(3, kCap / 16);
  EXPECT_EQ(store_->FreshLists().dropped, 1u);
  EXPECT_LT(store_->FreshCacheBytes(), kCap / 2);
  const DeliveryKey listed = write(1, 10);
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0)), ElementsAre(listed.seq));
  EXPECT_EQ(Scan(*store_, 2, kT0).size(), 8u);
  EXPECT_EQ(Scan(*store_, 3, kT0).size(), 5u);
  EXPECT_EQ(store_->FreshCacheBytes(), 0u);
}

TEST_F(FreshTest, RescheduledDeliveriesOfOneBatchAreAllListed) {
  Enqueue(3);
  const std::vector<Delivery> held = Scan(*store_, 1, kT0);
  ASSERT_EQ(held.size(), 3u);
  // Each Reschedule removes a key after the batch put another one; only a
  // key put and removed again may be left out, and these keep their seq.
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                for (const Delivery& d : held) c.Reschedule(d, kT0 + 10, 1);
              }).ok());
  EXPECT_GT(store_->FreshCacheBytes(), 0u);
  const std::vector<Delivery> again = Scan(*store_, 1, kT0 + 10);
  EXPECT_THAT(Seqs(again), ElementsAreArray(Seqs(held)));
  for (const Delivery& d : again) EXPECT_EQ(d.attempts, 1u);
}

TEST_F(FreshTest, AKeyPutAndRemovedInOneBatchIsNotListed) {
  DeliveryKey removed;
  DeliveryKey kept;
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                removed = c.Enqueue(1, "hits", "a", kT0, kT0);
                kept = c.Enqueue(1, "hits", "b", kT0, kT0);
                c.Remove(removed);
              }).ok());
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0)), ElementsAre(kept.seq));
  EXPECT_EQ(store_->QueuedCount(1), 1u);
}

TEST_F(FreshTest, ResetDropsTheListAndRocksDbHasEverything) {
  const auto keys = Enqueue(4);
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0, 1)), ElementsAre(keys[0].seq));
  ASSERT_GT(store_->FreshCacheBytes(), 0u);
  // The caller dropped what it held: everything comes again, once.
  EXPECT_THAT(Seqs(ScanEverything(*store_, 1)), ElementsAreArray(Seqs(keys)));
  EXPECT_EQ(store_->FreshCacheBytes(), 0u);
  EXPECT_THAT(Scan(*store_, 1, INT64_MAX), IsEmpty());
}

TEST_F(FreshTest, PurgeForgetsTheList) {
  Enqueue(4);
  ASSERT_TRUE(store_->PurgeIntegration(1).ok());
  EXPECT_EQ(store_->FreshCacheBytes(), 0u);
  EXPECT_THAT(Scan(*store_, 1, INT64_MAX), IsEmpty());
}

TEST_F(FreshTest, TheRocksDbScanStepsOverListedKeys) {
  log_only_ = false;  // listed deliveries are in RocksDB too
  Reopen();
  // Queued before the open: the RocksDB part. Written after: the list.
  const auto old = Enqueue(1, kT0 + 50);
  Reopen();
  const auto fresh = Enqueue(3, kT0);
  // The RocksDB scan meets the listed keys first (earlier due) and must
  // leave them to the list: each delivery comes once.
  std::vector<uint64_t> want = Seqs(old);
  for (uint64_t s : Seqs(fresh)) want.push_back(s);
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 50)), ElementsAreArray(want));
  EXPECT_THAT(Scan(*store_, 1, INT64_MAX), IsEmpty());
}

TEST_F(FreshTest, ListedDeliveriesSurviveAReopen) {
  const auto keys = Enqueue(3);
  Reopen();
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0)), ElementsAreArray(Seqs(keys)));
}

}  // namespace
}  // namespace outboxd
