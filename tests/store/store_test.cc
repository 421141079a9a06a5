// OutboxStore semantics on a real RocksDB: enqueue, scan, remove,
// reschedule, dead letters, replay, purge, queued counts, the due index.

#include "outboxd/store.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store_test_util.h"

namespace outboxd {
namespace {

using store_test::OpenOrDie;
using store_test::Scan;
using store_test::ScanEverything;
using store_test::ScratchDir;
using store_test::Seqs;
using store_test::TestOptions;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr TimeMs kT0 = 1'700'000'000'000;

// Every test runs with fresh deliveries served from memory (the default)
// and with every scan reading RocksDB: the answers are the same, except
// where a test says otherwise.
class StoreTest : public store_test::StoreFixture,
                  public ::testing::WithParamInterface<bool> {
 protected:
  bool Fresh() const { return GetParam(); }
  StoreOptions Options() override {
    return TestOptions(dir_.path(), /*sync=*/false, Fresh() ? 1ull << 20 : 0);
  }

  // Enqueues one delivery per due time, one batch; returns the keys.
  std::vector<DeliveryKey> EnqueueAt(uint64_t id, const std::vector<TimeMs>& dues) {
    Changes c = store_->NewChanges();
    std::vector<DeliveryKey> keys;
    for (TimeMs due : dues) {
      keys.push_back(c.Enqueue(id, "new_hits", "{\"due\":" + std::to_string(due) + "}",
                               due, kT0 - 1));
    }
    EXPECT_TRUE(store_->Apply(std::move(c)).ok());
    return keys;
  }
};

TEST_P(StoreTest, EnqueueThenScanInDueThenSeqOrder) {
  Changes c = store_->NewChanges();
  EXPECT_TRUE(c.empty());
  const DeliveryKey b = c.Enqueue(7, "create_user", R"({"id":"b"})", kT0 + 20, kT0);
  const DeliveryKey a = c.Enqueue(7, "new_hits", R"({"id":"a"})", kT0 + 10, kT0);
  const DeliveryKey a2 = c.Enqueue(7, "new_hits", R"({"id":"a2"})", kT0 + 10, kT0 + 1);
  EXPECT_FALSE(c.empty());
  EXPECT_EQ(c.deliveries_enqueued(), 3u);
  EXPECT_LT(b.seq, a.seq);
  EXPECT_LT(a.seq, a2.seq);
  ASSERT_TRUE(store_->Apply(std::move(c)).ok());

  std::vector<Delivery> got = Scan(*store_, 7, kT0 + 100);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].key, a);
  EXPECT_EQ(got[1].key, a2);
  EXPECT_EQ(got[2].key, b);
  EXPECT_EQ(got[2].log_type, "create_user");
  EXPECT_EQ(got[2].event, R"({"id":"b"})");
  EXPECT_EQ(got[2].attempts, 0u);
  EXPECT_EQ(got[1].first_enqueued_ms, kT0 + 1);
  EXPECT_EQ(store_->QueuedCount(7), 3u);
}

TEST_P(StoreTest, ScanIsBoundedByNow) {
  auto keys = EnqueueAt(1, {kT0, kT0 + 1000, kT0 + 2000});
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 - 1)), IsEmpty());
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 999)), ElementsAre(keys[0].seq));
  EXPECT_EQ(store_->NextDue(1), kT0 + 1000);
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 2000)), ElementsAre(keys[1].seq, keys[2].seq));
  EXPECT_EQ(store_->NextDue(1), kNoDue);
}

TEST_P(StoreTest, ScanIsBoundedByMaxItemsAndTheCursorContinues) {
  std::vector<TimeMs> dues;
  for (int i = 0; i < 10; ++i) dues.push_back(kT0 + i);
  auto keys = EnqueueAt(1, dues);
  EXPECT_EQ(store_->ScanDue(1, kT0 + 100, 0, [](Delivery&&) { FAIL(); }).value(), 0u);
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 100, 4)),
              ElementsAre(keys[0].seq, keys[1].seq, keys[2].seq, keys[3].seq));
  // Still due: NextDue points at the next unscanned entry.
  EXPECT_EQ(store_->NextDue(1), kT0 + 4);
  EXPECT_THAT(store_->DueIntegrations(kT0 + 100), ElementsAre(1u));
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 100, 4)),
              ElementsAre(keys[4].seq, keys[5].seq, keys[6].seq, keys[7].seq));
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 100, 4)),
              ElementsAre(keys[8].seq, keys[9].seq));
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 100, 4)), IsEmpty());
  EXPECT_THAT(store_->DueIntegrations(INT64_MAX), IsEmpty());
}

TEST_P(StoreTest, WriteBelowTheCursorRewindsTheNextScan) {
  auto first = EnqueueAt(1, {kT0 + 100, kT0 + 300});
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 200)), ElementsAre(first[0].seq));
  // Lands between what was handed out and the cursor (at kT0 + 300).
  auto c = EnqueueAt(1, {kT0 + 150});
  EXPECT_EQ(store_->NextDue(1), kT0 + 150);
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 200)), ElementsAre(c[0].seq));
  // Lands below a delivery still held (first[0] not removed). From RocksDB
  // the rewind hands that one out again (the caller skips what it holds);
  // a fresh delivery comes from memory alone.
  auto d = EnqueueAt(1, {kT0 + 50});
  if (Fresh()) {
    EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 200)), ElementsAre(d[0].seq));
  } else {
    EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 200)),
                ElementsAre(d[0].seq, first[0].seq, c[0].seq));
  }
  // Removed deliveries are not handed out again by a rewind.
  ASSERT_TRUE(ApplyOne([&](Changes& ch) {
                ch.Remove(d[0]);
                ch.Remove(first[0]);
              }).ok());
  auto e = EnqueueAt(1, {kT0 + 10});
  if (Fresh()) {
    EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 200)), ElementsAre(e[0].seq));
  } else {
    EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 200)), ElementsAre(e[0].seq, c[0].seq));
  }
  // Both ways, a reset hands out everything still queued, once.
  EXPECT_THAT(Seqs(ScanEverything(*store_, 1)),
              ElementsAre(e[0].seq, c[0].seq, first[1].seq));
}

TEST_P(StoreTest, RemoveDeletesAndCounts) {
  auto keys = EnqueueAt(3, {kT0, kT0 + 1, kT0 + 2});
  EXPECT_EQ(store_->QueuedCount(3), 3u);
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                c.Remove(keys[1]);
                c.Remove(keys[0]);
              }).ok());
  EXPECT_EQ(store_->QueuedCount(3), 1u);
  EXPECT_THAT(Seqs(ScanEverything(*store_, 3)), ElementsAre(keys[2].seq));
  EXPECT_EQ(store_->OldestDue(3).value(), kT0 + 2);
}

TEST_P(StoreTest, RescheduleMovesTheKeyAndRaisesAnEarlierDue) {
  auto keys = EnqueueAt(2, {kT0 + 1000});
  std::vector<Delivery> held = Scan(*store_, 2, kT0 + 1000);
  ASSERT_EQ(held.size(), 1u);

  Changes c = store_->NewChanges();
  const DeliveryKey moved = c.Reschedule(held[0], kT0 + 5000, 1);
  ASSERT_TRUE(store_->Apply(std::move(c)).ok());
  EXPECT_EQ(moved, (DeliveryKey{2, kT0 + 5000, keys[0].seq}));
  EXPECT_EQ(store_->NextDue(2), kT0 + 5000);
  EXPECT_THAT(store_->DueIntegrations(kT0 + 4999), IsEmpty());
  EXPECT_EQ(store_->QueuedCount(2), 1u);

  std::vector<Delivery> again = Scan(*store_, 2, kT0 + 5000);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].key, moved);
  EXPECT_EQ(again[0].attempts, 1u);
  EXPECT_EQ(again[0].event, held[0].event);
  EXPECT_EQ(again[0].first_enqueued_ms, held[0].first_enqueued_ms);

  // A "retry now" (new due not after the old one) still gets a new key.
  c = store_->NewChanges();
  const DeliveryKey now_again = c.Reschedule(again[0], kT0, 2);
  ASSERT_TRUE(store_->Apply(std::move(c)).ok());
  EXPECT_EQ(now_again.due_ms, kT0 + 5001);
  std::vector<Delivery> all = ScanEverything(*store_, 2);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].key, now_again);
  EXPECT_EQ(all[0].attempts, 2u);
}

TEST_P(StoreTest, DeadLettersAndReplay) {
  auto keys = EnqueueAt(4, {kT0, kT0 + 1});
  std::vector<Delivery> held = Scan(*store_, 4, kT0);
  ASSERT_EQ(held.size(), 1u);
  held[0].attempts = 9;
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                c.MoveToDead(held[0], "400 InvalidDataFormat: bad", kT0 + 60'000);
              }).ok());
  EXPECT_EQ(store_->QueuedCount(4), 1u);
  EXPECT_THAT(Seqs(ScanEverything(*store_, 4)), ElementsAre(keys[1].seq));

  std::vector<DeadDelivery> dead;
  ASSERT_TRUE(
      store_->ForEachDead(4, 10, [&](DeadDelivery&& d) { dead.push_back(d); }).ok());
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].reason, "400 InvalidDataFormat: bad");
  EXPECT_EQ(dead[0].died_ms, kT0 + 60'000);
  EXPECT_EQ(dead[0].delivery.key, keys[0]);
  EXPECT_EQ(dead[0].delivery.attempts, 9u);
  EXPECT_EQ(dead[0].delivery.event, held[0].event);

  Changes c = store_->NewChanges();
  const DeliveryKey replayed = c.Replay(dead[0], kT0 + 90'000);
  EXPECT_EQ(c.deliveries_enqueued(), 1u);
  ASSERT_TRUE(store_->Apply(std::move(c)).ok());
  EXPECT_GT(replayed.seq, keys[1].seq);
  EXPECT_EQ(replayed.due_ms, kT0 + 90'000);
  EXPECT_EQ(store_->QueuedCount(4), 2u);
  size_t dead_left = 0;
  ASSERT_TRUE(store_->ForEachDead(4, 10, [&](DeadDelivery&&) { ++dead_left; }).ok());
  EXPECT_EQ(dead_left, 0u);
  std::vector<Delivery> all = ScanEverything(*store_, 4);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].key, replayed);
  EXPECT_EQ(all[1].attempts, 0u);
  EXPECT_EQ(all[1].first_enqueued_ms, kT0 + 90'000);  // a new life, see storage.md
  EXPECT_EQ(all[1].event, held[0].event);
}

TEST_P(StoreTest, ForEachDeadIsBoundedAndRemoveDeadDeletesOne) {
  auto keys = EnqueueAt(5, {kT0, kT0, kT0});
  EnqueueAt(6, {kT0});
  std::vector<Delivery> held = Scan(*store_, 5, kT0);
  std::vector<Delivery> other = Scan(*store_, 6, kT0);
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                for (const Delivery& d : held) c.MoveToDead(d, "max age", kT0);
                c.MoveToDead(other[0], "max age", kT0);
              }).ok());
  std::vector<uint64_t> seen;
  ASSERT_TRUE(store_
                  ->ForEachDead(
                      5, 2, [&](DeadDelivery&& d) { seen.push_back(d.delivery.key.seq); })
                  .ok());
  EXPECT_THAT(seen, ElementsAre(keys[0].seq, keys[1].seq));
  ASSERT_TRUE(store_->RemoveDead(5, keys[0].seq).ok());
  seen.clear();
  ASSERT_TRUE(
      store_
          ->ForEachDead(5, 10,
                        [&](DeadDelivery&& d) { seen.push_back(d.delivery.key.seq); })
          .ok());
  EXPECT_THAT(seen, ElementsAre(keys[1].seq, keys[2].seq));
}

TEST_P(StoreTest, PurgeRemovesOneIntegrationOnly) {
  for (uint64_t id : {9, 10, 11}) {
    auto keys = EnqueueAt(id, {kT0, kT0 + 1});
    std::vector<Delivery> held = Scan(*store_, id, kT0);
    ASSERT_TRUE(ApplyOne([&](Changes& c) {
                  c.MoveToDead(held[0], "max age", kT0);
                  c.AddStats(id, 100, 5, 1);
                  c.PutIntegration(id, "record-" + std::to_string(id));
                }).ok());
  }
  ASSERT_TRUE(store_->PurgeIntegration(10).ok());
  EXPECT_THAT(store_->DueIntegrations(INT64_MAX), UnorderedElementsAre(9u, 11u));
  EXPECT_EQ(store_->QueuedCount(10), 0u);
  EXPECT_EQ(store_->NextDue(10), kNoDue);
  EXPECT_EQ(store_->OldestDue(10).value(), kNoDue);
  EXPECT_THAT(ScanEverything(*store_, 10), IsEmpty());
  EXPECT_FALSE(store_->GetIntegration(10).value().has_value());
  size_t dead10 = 0;
  ASSERT_TRUE(store_->ForEachDead(10, 10, [&](DeadDelivery&&) { ++dead10; }).ok());
  EXPECT_EQ(dead10, 0u);
  std::vector<uint64_t> stats_ids;
  ASSERT_TRUE(
      store_
          ->ForEachStatsBucket(
              0, [&](const StatsBucket& b) { stats_ids.push_back(b.integration_id); })
          .ok());
  EXPECT_THAT(stats_ids, ElementsAre(9u, 11u));
  for (uint64_t id : {9, 11}) {
    EXPECT_EQ(store_->QueuedCount(id), 1u);
    EXPECT_EQ(ScanEverything(*store_, id).size(), 1u);
    EXPECT_EQ(store_->GetIntegration(id).value(), "record-" + std::to_string(id));
  }
}

TEST_P(StoreTest, PurgeDeliveriesInABatchVoidsEarlierOperationsOnly) {
  EnqueueAt(3, {kT0, kT0 + 1});
  EnqueueAt(4, {kT0});
  std::vector<Delivery> held = Scan(*store_, 3, kT0);
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                c.MoveToDead(held[0], "max age", kT0);
                c.AddStats(3, 10, 1, 1);
                c.PutIntegration(3, "record");
              }).ok());
  DeliveryKey later;
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                c.Enqueue(3, "t", "before purge", kT0, kT0);  // void
                c.AddStats(3, 11, 1, 0);                      // void
                c.PurgeDeliveries(3);
                later = c.Enqueue(3, "t", "after purge", kT0 + 7, kT0);
                c.AddStats(3, 12, 2, 0);
              }).ok());
  EXPECT_EQ(store_->QueuedCount(3), 1u);
  EXPECT_EQ(store_->NextDue(3), kT0 + 7);
  std::vector<Delivery> left = ScanEverything(*store_, 3);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].key, later);
  EXPECT_EQ(left[0].event, "after purge");
  size_t dead = 0;
  ASSERT_TRUE(store_->ForEachDead(3, 10, [&](DeadDelivery&&) { ++dead; }).ok());
  EXPECT_EQ(dead, 0u);
  std::vector<int64_t> minutes;
  ASSERT_TRUE(store_
                  ->ForEachStatsBucket(0,
                                       [&](const StatsBucket& b) {
                                         if (b.integration_id == 3)
                                           minutes.push_back(b.minute);
                                       })
                  .ok());
  EXPECT_THAT(minutes, ElementsAre(12));
  EXPECT_EQ(store_->GetIntegration(3).value(), "record");  // the record stays
  EXPECT_EQ(store_->QueuedCount(4), 1u);                   // neighbours untouched
}

TEST_P(StoreTest, ClearStatsAndDeleteIntegration) {
  ASSERT_TRUE(ApplyOne([](Changes& c) {
                c.AddStats(5, 1, 3, 3);
                c.AddStats(6, 1, 1, 0);
                c.PutIntegration(5, "five");
                c.PutIntegration(6, "six");
              }).ok());
  Changes c = store_->NewChanges();
  c.ClearStats(5);
  EXPECT_FALSE(c.empty());
  c.DeleteIntegration(6);
  ASSERT_TRUE(store_->Apply(std::move(c)).ok());
  std::vector<uint64_t> ids;
  ASSERT_TRUE(store_
                  ->ForEachStatsBucket(
                      0, [&](const StatsBucket& b) { ids.push_back(b.integration_id); })
                  .ok());
  EXPECT_THAT(ids, ElementsAre(6u));
  EXPECT_EQ(store_->GetIntegration(5).value(), "five");
  EXPECT_FALSE(store_->GetIntegration(6).value().has_value());
}

TEST_P(StoreTest, QueuedCountsAreExactAndPersisted) {
  Changes c = store_->NewChanges();
  std::vector<DeliveryKey> ones;
  for (int i = 0; i < 5; ++i) ones.push_back(c.Enqueue(1, "t", "e", kT0, kT0));
  for (int i = 0; i < 3; ++i) c.Enqueue(2, "t", "e", kT0, kT0);
  ASSERT_TRUE(store_->Apply(std::move(c)).ok());
  ASSERT_TRUE(ApplyOne([&](Changes& ch) {
                ch.Remove(ones[0]);
                ch.Remove(ones[1]);
                ch.Enqueue(2, "t", "e", kT0, kT0);
              }).ok());
  EXPECT_EQ(store_->QueuedCount(1), 3u);
  EXPECT_EQ(store_->QueuedCount(2), 4u);
  EXPECT_EQ(store_->QueuedCount(3), 0u);
  Reopen();
  EXPECT_EQ(store_->QueuedCount(1), 3u);
  EXPECT_EQ(store_->QueuedCount(2), 4u);
}

TEST_P(StoreTest, OldestDueSeesHandedOutDeliveries) {
  EXPECT_EQ(store_->OldestDue(1).value(), kNoDue);
  EnqueueAt(1, {kT0 + 5, kT0 + 9});
  EXPECT_EQ(Scan(*store_, 1, INT64_MAX).size(), 2u);
  EXPECT_EQ(store_->NextDue(1), kNoDue);             // nothing left to hand out
  EXPECT_EQ(store_->OldestDue(1).value(), kT0 + 5);  // but still queued
}

// OldestDue seeks from the due index's hint: it must still see a write
// below the hint, removals above it, and an integration that empties and
// fills again.
TEST_P(StoreTest, OldestDueFollowsWritesAndRemovalsAcrossItsHint) {
  auto keys = EnqueueAt(1, {kT0 + 5, kT0 + 9});
  EXPECT_EQ(store_->OldestDue(1).value(), kT0 + 5);
  ASSERT_TRUE(ApplyOne([&](Changes& c) { c.Remove(keys[0]); }).ok());
  EXPECT_EQ(store_->OldestDue(1).value(), kT0 + 9);
  EnqueueAt(1, {kT0 + 1});  // below the hint the last call left
  EXPECT_EQ(store_->OldestDue(1).value(), kT0 + 1);
  EXPECT_EQ(store_->OldestDue(1).value(), kT0 + 1);
  auto all = Scan(*store_, 1, INT64_MAX);
  ASSERT_EQ(all.size(), 2u);
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                for (const Delivery& d : all) c.Remove(d.key);
              }).ok());
  EXPECT_EQ(store_->OldestDue(1).value(), kNoDue);
  EXPECT_EQ(store_->OldestDue(1).value(), kNoDue);
  EnqueueAt(1, {kT0 + 3});
  EXPECT_EQ(store_->OldestDue(1).value(), kT0 + 3);
  Reopen();
  EXPECT_EQ(store_->OldestDue(1).value(), kT0 + 3);
}

TEST_P(StoreTest, ResetCursorMakesEverythingScannableAgain) {
  auto keys = EnqueueAt(1, {kT0, kT0 + 1, kT0 + 50});
  EXPECT_EQ(Scan(*store_, 1, kT0 + 100).size(), 3u);
  EXPECT_THAT(Scan(*store_, 1, kT0 + 100), IsEmpty());
  EXPECT_EQ(store_->NextDue(1), kNoDue);
  store_->ResetCursor(1);
  EXPECT_EQ(store_->NextDue(1), kT0);
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 100)),
              ElementsAre(keys[0].seq, keys[1].seq, keys[2].seq));
  store_->ResetCursor(99);  // empty integration
  EXPECT_EQ(store_->NextDue(99), kNoDue);
}

TEST_P(StoreTest, DueIntegrationsAndNextDue) {
  EnqueueAt(1, {kT0 + 10});
  EnqueueAt(2, {kT0 + 20});
  EnqueueAt(0, {kT0 + 30});
  EnqueueAt(UINT64_MAX, {kT0 + 40});
  EXPECT_EQ(store_->NextDue(2), kT0 + 20);
  EXPECT_EQ(store_->NextDue(3), kNoDue);
  EXPECT_THAT(store_->DueIntegrations(kT0 + 9), IsEmpty());
  EXPECT_THAT(store_->DueIntegrations(kT0 + 20), UnorderedElementsAre(1u, 2u));
  EXPECT_THAT(store_->DueIntegrations(kT0 + 40),
              UnorderedElementsAre(0u, 1u, 2u, UINT64_MAX));
  // Neighbouring ranges never leak into a scan.
  EXPECT_EQ(Scan(*store_, 0, INT64_MAX).size(), 1u);
  EXPECT_EQ(Scan(*store_, UINT64_MAX, INT64_MAX).size(), 1u);
  EXPECT_THAT(store_->DueIntegrations(kT0 + 40), UnorderedElementsAre(1u, 2u));
}

TEST_P(StoreTest, ReopenRebuildsTheDueIndex) {
  EnqueueAt(1, {kT0 + 300, kT0 + 100});
  EnqueueAt(0, {kT0 + 200});
  EnqueueAt(UINT64_MAX, {kT0 + 50});
  auto gone = EnqueueAt(5, {kT0});
  ASSERT_TRUE(ApplyOne([&](Changes& c) { c.Remove(gone[0]); }).ok());
  Reopen();
  EXPECT_EQ(store_->NextDue(1), kT0 + 100);
  EXPECT_EQ(store_->NextDue(0), kT0 + 200);
  EXPECT_EQ(store_->NextDue(UINT64_MAX), kT0 + 50);
  EXPECT_EQ(store_->NextDue(5), kNoDue);
  EXPECT_THAT(store_->DueIntegrations(kT0 + 150), UnorderedElementsAre(1u, UINT64_MAX));
  EXPECT_EQ(Scan(*store_, 1, INT64_MAX).size(), 2u);
}

TEST_P(StoreTest, SequenceNumbersAreNeverReusedAcrossReopen) {
  uint64_t highest = 0;
  for (int round = 0; round < 3; ++round) {
    Changes c = store_->NewChanges();
    const DeliveryKey k = c.Enqueue(1, "t", "e", kT0, kT0);
    EXPECT_GT(k.seq, highest);
    highest = k.seq;
    ASSERT_TRUE(store_->Apply(std::move(c)).ok());
    // Allocated but dropped: still never handed out again.
    highest = std::max(highest, store_->NewChanges().Enqueue(1, "t", "e", kT0, kT0).seq);
    Reopen();
  }
  auto lease = store_->GetMeta("seq_lease").value();
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->size(), 8u);
}

TEST_P(StoreTest, DueListenerGetsEarliestDuePerIntegration) {
  std::vector<std::pair<uint64_t, TimeMs>> calls;
  store_->SetDueListener([&](uint64_t id, TimeMs due) { calls.emplace_back(id, due); });
  auto keys = EnqueueAt(1, {kT0 + 30, kT0 + 10, kT0 + 20});
  EnqueueAt(2, {kT0 + 5});
  EXPECT_THAT(calls, ElementsAre(std::pair<uint64_t, TimeMs>(1, kT0 + 10),
                                 std::pair<uint64_t, TimeMs>(2, kT0 + 5)));
  calls.clear();
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                c.Remove(keys[0]);
                c.AddStats(1, 5, 1, 0);
              }).ok());
  EXPECT_THAT(calls, IsEmpty());
}

TEST_P(StoreTest, NegativeDueIsDueAtZero) {
  auto keys = EnqueueAt(1, {-100});
  EXPECT_EQ(keys[0].due_ms, 0);
  EXPECT_EQ(store_->NextDue(1), 0);
  EXPECT_EQ(Scan(*store_, 1, 0).size(), 1u);
}

TEST_P(StoreTest, InvalidChangesAreRefusedWhole) {
  Changes c = store_->NewChanges();
  c.Enqueue(1, "t", "e", kT0, kT0);
  c.Enqueue(1, std::string(256, 'x'), "e", kT0, kT0);
  EXPECT_EQ(store_->Apply(std::move(c)).code(), absl::StatusCode::kInvalidArgument);
  c = store_->NewChanges();
  c.PutMeta("q/1", "x");
  EXPECT_EQ(store_->Apply(std::move(c)).code(), absl::StatusCode::kInvalidArgument);
  c = store_->NewChanges();
  c.PutMeta("seq_lease", "x");
  EXPECT_EQ(store_->Apply(std::move(c)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->QueuedCount(1), 0u);
  EXPECT_THAT(ScanEverything(*store_, 1), IsEmpty());

  Changes moved_from = store_->NewChanges();
  Changes target = std::move(moved_from);
  EXPECT_EQ(store_->Apply(std::move(moved_from)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->Apply(std::move(target)).ok());  // empty: a no-op

  ScratchDir other_dir;
  auto other = OpenOrDie(TestOptions(other_dir.path()));
  Changes foreign = other->NewChanges();
  foreign.Enqueue(1, "t", "e", kT0, kT0);
  EXPECT_EQ(store_->Apply(std::move(foreign)).code(), absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(FreshOnAndOff, StoreTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Fresh" : "RocksOnly";
                         });

}  // namespace
}  // namespace outboxd
