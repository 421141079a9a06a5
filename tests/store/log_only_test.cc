// Log-only deliveries (docs/storage.md, "Log-only deliveries"): what is
// written to the WAL only, restored at open, rewritten by checkpoints, and
// how removals are ordered against a rewrite (LogOnlySet).

#include "store/log_only.h"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "outboxd/store.h"
#include "store_test_util.h"

namespace outboxd {
namespace {

using store_test::ArchivedWalFiles;
using store_test::AwaitArchivedWalFile;
using store_test::Scan;
using store_test::ScanEverything;
using store_test::Seqs;
using store_test::TestOptions;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

constexpr TimeMs kT0 = 1'700'000'000'000;

class LogOnlyTest : public store_test::StoreFixture {
 protected:
  StoreOptions Options() override {
    StoreOptions o = TestOptions(dir_.path(), /*sync=*/true, cap_);
    o.log_only_deliveries = log_only_;
    o.write_buffer_bytes = write_buffer_;
    return o;
  }
  // Integration `id` known to the index (armed): what it gets from now on
  // goes to the fresh list, so log-only.
  void Arm(uint64_t id) { ASSERT_THAT(Scan(*store_, id, kT0), IsEmpty()); }
  std::vector<DeliveryKey> Enqueue(uint64_t id, int n, TimeMs due = kT0) {
    std::vector<DeliveryKey> keys;
    EXPECT_TRUE(ApplyOne([&](Changes& c) {
                  for (int i = 0; i < n; ++i) {
                    keys.push_back(c.Enqueue(
                        id, "hits", "event-" + std::to_string(i) + std::string(500, 'e'),
                        due, kT0));
                  }
                }).ok());
    return keys;
  }
  // Closes the store without a checkpoint (RocksDB flushes its memtables
  // and archives the WAL files, as after a crash's recovery) and opens it.
  void CloseWithoutCheckpointAndReopen() {
    store_.reset();
    store_ = store_test::OpenOrDie(Options());
  }
  static std::vector<uint64_t> KeySeqs(const std::vector<DeliveryKey>& keys) {
    std::vector<uint64_t> out;
    for (const DeliveryKey& k : keys) out.push_back(k.seq);
    return out;
  }

  bool log_only_ = true;
  uint64_t cap_ = 4ull << 20;
  uint64_t write_buffer_ = 8ull << 20;
};

TEST_F(LogOnlyTest, ListedDeliveriesAreWrittenLogOnlyAndRestoredAtOpen) {
  Arm(1);
  const auto keys = Enqueue(1, 50);
  EXPECT_EQ(store_->LogOnlyPending(), 50u);
  CloseWithoutCheckpointAndReopen();
  EXPECT_EQ(store_->LogOnlyRestoredAtOpen(), 50u);
  EXPECT_EQ(store_->LogOnlyPending(), 0u);
  EXPECT_EQ(store_->QueuedCount(1), 50u);
  EXPECT_THAT(Seqs(ScanEverything(*store_, 1)), ElementsAreArray(KeySeqs(keys)));
  // Restored as Puts: the archive they were read from is gone, and a
  // second open restores nothing again.
  EXPECT_EQ(ArchivedWalFiles(dir_.path()), 0u);
  CloseWithoutCheckpointAndReopen();
  EXPECT_EQ(store_->LogOnlyRestoredAtOpen(), 0u);
  EXPECT_THAT(Seqs(ScanEverything(*store_, 1)), ElementsAreArray(KeySeqs(keys)));
}

TEST_F(LogOnlyTest, RemovedAndPurgedDeliveriesAreNotRestored) {
  Arm(1);
  Arm(2);
  const auto keys = Enqueue(1, 40);
  Enqueue(2, 5);
  // Taken from the fresh list, as the dispatcher does, then removed: one by
  // one, and a run of 20 with one range tombstone.
  ASSERT_EQ(Scan(*store_, 1, kT0).size(), 40u);
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                c.Remove(keys[0]);
                c.Remove(keys[1]);
                c.RemoveAll(
                    std::vector<DeliveryKey>(keys.begin() + 10, keys.begin() + 30));
              }).ok());
  ASSERT_TRUE(store_->PurgeIntegration(2).ok());
  EXPECT_EQ(store_->LogOnlyPending(), 18u);
  CloseWithoutCheckpointAndReopen();
  EXPECT_EQ(store_->LogOnlyRestoredAtOpen(), 18u);
  std::vector<uint64_t> left;
  for (size_t i = 2; i < 40; ++i) {
    if (i < 10 || i >= 30) left.push_back(keys[i].seq);
  }
  EXPECT_THAT(Seqs(ScanEverything(*store_, 1)), ElementsAreArray(left));
  EXPECT_THAT(ScanEverything(*store_, 2), IsEmpty());
}

TEST_F(LogOnlyTest, CheckpointRewritesAsPutsAndDeletesTheArchive) {
  Arm(1);
  const auto keys = Enqueue(1, 30);
  // Nothing archived yet: their WAL file is live, so a checkpoint of the
  // archive leaves them log-only.
  ASSERT_TRUE(store_->Checkpoint(OutboxStore::CheckpointScope::kArchived).ok());
  EXPECT_EQ(store_->LogOnlyPending(), 30u);
  // Flush (shutdown, disk quota) rewrites all of them, flushes, and
  // deletes the WAL files RocksDB archived after the flush.
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_EQ(store_->LogOnlyPending(), 0u);
  EXPECT_EQ(ArchivedWalFiles(dir_.path()), 0u);
  CloseWithoutCheckpointAndReopen();
  EXPECT_EQ(store_->LogOnlyRestoredAtOpen(), 0u);
  EXPECT_THAT(Seqs(ScanEverything(*store_, 1)), ElementsAreArray(KeySeqs(keys)));
}

TEST_F(LogOnlyTest, ArchivedScopeRewritesWhatTheArchiveHoldsAndDeletesIt) {
  Arm(1);
  const auto old_keys = Enqueue(1, 10);
  // RocksDB switches to a new WAL file and archives the old one when every
  // column family is flushed; a later Flush() would checkpoint everything,
  // so the switch comes from a closed and reopened store.
  CloseWithoutCheckpointAndReopen();             // restores the 10 as Puts
  ASSERT_EQ(Scan(*store_, 1, kT0).size(), 10u);  // and arms the list again
  const auto new_keys = Enqueue(1, 10);
  EXPECT_EQ(store_->LogOnlyPending(), 10u);
  ASSERT_TRUE(store_->Checkpoint(OutboxStore::CheckpointScope::kArchived).ok());
  // The 10 new ones are in the live file: still log-only.
  EXPECT_EQ(store_->LogOnlyPending(), 10u);
  EXPECT_EQ(ArchivedWalFiles(dir_.path()), 0u);
  ASSERT_TRUE(store_->Checkpoint(OutboxStore::CheckpointScope::kAll).ok());
  EXPECT_EQ(store_->LogOnlyPending(), 0u);
  std::vector<uint64_t> all = KeySeqs(old_keys);
  for (const DeliveryKey& k : new_keys) all.push_back(k.seq);
  EXPECT_THAT(Seqs(ScanEverything(*store_, 1)), ElementsAreArray(all));
}

TEST_F(LogOnlyTest, WalFilesRocksDbArchivesByItselfAreRewrittenBeforeTheyGo) {
  // Small write buffers: past 4 of them in WAL files RocksDB flushes every
  // column family on its own and archives the old files, log-only records
  // and all, with no checkpoint involved.
  write_buffer_ = 64 * 1024;
  Reopen();
  Arm(1);
  std::vector<uint64_t> all;
  for (int b = 0; b < 200; ++b) {
    for (const DeliveryKey& k : Enqueue(1, 4)) all.push_back(k.seq);
  }
  ASSERT_GT(AwaitArchivedWalFile(dir_.path()), 0u);
  const uint64_t pending = store_->LogOnlyPending();
  ASSERT_TRUE(store_->Checkpoint(OutboxStore::CheckpointScope::kArchived).ok());
  // What the archive held is rewritten and the archive deleted; what the
  // live file holds stays log-only.
  EXPECT_LT(store_->LogOnlyPending(), pending);
  EXPECT_GT(store_->LogOnlyPending(), 0u);
  EXPECT_EQ(ArchivedWalFiles(dir_.path()), 0u);
  CloseWithoutCheckpointAndReopen();
  EXPECT_THAT(Seqs(ScanEverything(*store_, 1)), ElementsAreArray(all));
  EXPECT_EQ(store_->QueuedCount(1), all.size());
}

TEST_F(LogOnlyTest, DeliveriesOfADroppedListAreFoundByTheNextScan) {
  Arm(1);
  const auto keys = Enqueue(1, 20, kT0 + 1000);  // listed, not due yet
  EXPECT_EQ(store_->LogOnlyPending(), 20u);
  // A reset drops the list: the deliveries must come from RocksDB now.
  EXPECT_THAT(Seqs(ScanEverything(*store_, 1)), ElementsAreArray(KeySeqs(keys)));
  EXPECT_EQ(store_->LogOnlyPending(), 0u);
}

TEST_F(LogOnlyTest, DeliveriesOfAListShedOverTheCapAreFoundByTheNextScan) {
  cap_ = 16 * 1024;
  Reopen();
  Arm(1);
  std::vector<uint64_t> all;
  for (int events : {10, 20, 10, 10}) {
    // 600 bytes an event, log-only while listed. The first batch is listed;
    // the second passes the whole cap in one write and the list is dropped
    // (not only capped at half), and later ones go to RocksDB as Puts.
    EXPECT_TRUE(ApplyOne([&](Changes& c) {
                  for (int i = 0; i < events; ++i) {
                    all.push_back(
                        c.Enqueue(1, "hits", std::string(600, 'e'), kT0, kT0).seq);
                  }
                }).ok());
  }
  EXPECT_EQ(store_->FreshLists().dropped, 1u);
  EXPECT_GT(store_->LogOnlyPending(), 0u);
  // No reset: the scan itself must find what the dropped list held.
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0)), ElementsAreArray(all));
  EXPECT_EQ(store_->LogOnlyPending(), 0u);
}

TEST_F(LogOnlyTest, ACappedListsDeliveriesAndThePutsAfterItSurviveACrash) {
  cap_ = 16 * 1024;
  Reopen();
  Arm(1);
  std::vector<uint64_t> all;
  for (int b = 0; b < 4; ++b) {
    // ~3 KiB a batch: the list is capped at half the cap during the third,
    // and the fourth is written as Puts.
    for (const DeliveryKey& k : Enqueue(1, 5)) all.push_back(k.seq);
  }
  ASSERT_EQ(store_->FreshLists().capped, 1u);
  ASSERT_EQ(store_->FreshLists().dropped, 0u);
  const uint64_t log_only = store_->LogOnlyWritten();
  ASSERT_GT(log_only, 0u);
  ASSERT_LT(log_only, all.size());
  CloseWithoutCheckpointAndReopen();
  EXPECT_EQ(store_->LogOnlyRestoredAtOpen(), log_only);
  EXPECT_EQ(store_->QueuedCount(1), all.size());
  EXPECT_THAT(Seqs(ScanEverything(*store_, 1)), ElementsAreArray(all));
}

TEST_F(LogOnlyTest, APutBesideAListedDeliveryInOneBatchAsksForNoCheckpoint) {
  // Written before integration 1 was known: its seq is below the list's
  // first, so it is a Put, and so is its retry.
  const auto old = Enqueue(1, 1);
  const std::vector<Delivery> held = Scan(*store_, 1, kT0);  // arms the list
  ASSERT_EQ(held.size(), 1u);
  DeliveryKey fresh;
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                c.Reschedule(held[0], kT0 + 60'000, 1);
                fresh = c.Enqueue(1, "hits", std::string(500, 'e'), kT0, kT0);
              }).ok());
  EXPECT_EQ(store_->LogOnlyPending(), 1u);
  // Only an unlisted log-only delivery needs one (a scan runs it first).
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0)), ElementsAreArray({fresh.seq}));
  EXPECT_EQ(store_->LogOnlyPending(), 1u);
  EXPECT_THAT(Seqs(Scan(*store_, 1, kT0 + 60'000)), ElementsAreArray({old[0].seq}));
}

TEST_F(LogOnlyTest, OldestDueSeesLogOnlyDeliveries) {
  Arm(1);
  Enqueue(1, 3, kT0 + 500);
  EXPECT_EQ(store_->OldestDue(1).value(), kT0 + 500);
  Enqueue(1, 1, kT0 + 100);
  EXPECT_EQ(store_->OldestDue(1).value(), kT0 + 100);
}

TEST_F(LogOnlyTest, OffWritesPutsAndStillRestoresWhatAnEarlierRunLeft) {
  Arm(1);
  const auto keys = Enqueue(1, 12);
  EXPECT_EQ(store_->LogOnlyPending(), 12u);
  log_only_ = false;
  CloseWithoutCheckpointAndReopen();
  EXPECT_EQ(store_->LogOnlyRestoredAtOpen(), 12u);
  ASSERT_EQ(Scan(*store_, 1, kT0).size(), 12u);  // arms the list again
  const auto more = Enqueue(1, 3);
  EXPECT_EQ(store_->LogOnlyPending(), 0u);
  std::vector<uint64_t> all = KeySeqs(keys);
  for (const DeliveryKey& k : more) all.push_back(k.seq);
  EXPECT_THAT(Seqs(ScanEverything(*store_, 1)), ElementsAreArray(all));
}

// Removals racing checkpoints, then a reopen: nothing removed comes back,
// nothing queued is lost. Run under TSan (store_test's label).
TEST_F(LogOnlyTest, RemovalsRacingCheckpointsLeaveExactlyWhatIsQueued) {
  Arm(1);
  std::vector<DeliveryKey> keys;
  for (int i = 0; i < 20; ++i) {
    auto batch = Enqueue(1, 25);
    keys.insert(keys.end(), batch.begin(), batch.end());
  }
  ASSERT_EQ(Scan(*store_, 1, kT0).size(), keys.size());
  std::atomic<bool> done{false};
  std::thread checkpoints([&] {
    while (!done.load()) {
      EXPECT_TRUE(store_->Checkpoint(OutboxStore::CheckpointScope::kAll).ok());
    }
  });
  std::vector<uint64_t> kept;
  for (size_t i = 0; i < keys.size(); i += 10) {
    ASSERT_TRUE(ApplyOne([&](Changes& c) {
                  // 7 of each 10 removed, 3 kept.
                  c.RemoveAll(
                      std::vector<DeliveryKey>(keys.begin() + i, keys.begin() + i + 5));
                  c.Remove(keys[i + 5]);
                  c.Remove(keys[i + 6]);
                }).ok());
    for (size_t j = i + 7; j < i + 10; ++j) kept.push_back(keys[j].seq);
  }
  done.store(true);
  checkpoints.join();
  CloseWithoutCheckpointAndReopen();
  EXPECT_THAT(Seqs(ScanEverything(*store_, 1)), UnorderedElementsAreArray(kept));
  EXPECT_EQ(store_->QueuedCount(1), kept.size());
}

namespace set_test {

using store_internal::LogOnlySet;

Delivery At(uint64_t seq) {
  Delivery d;
  d.key = {1, kT0, seq};
  d.log_type = "hits";
  d.event = "e";
  return d;
}

TEST(LogOnlySetTest, ARemovalFromALaterWindowWaitsForTheRewrite) {
  LogOnlySet set;
  const uint64_t w = set.BeginApply();
  set.Add({At(1), At(2)}, 0);
  set.EndApply(w);
  std::vector<Delivery> rewrite = set.BeginRewrite(UINT64_MAX);
  ASSERT_EQ(rewrite.size(), 2u);
  std::atomic<bool> removed{false};
  std::thread remover([&] {
    const uint64_t t = set.BeginApply();
    LogOnlySet::Removal r;
    r.runs.push_back({At(1).key, 1});
    set.BeginRemoval(t, &r);  // waits: its Put is not written yet
    removed.store(true);
    set.EndRemoval(r, true);
    set.EndApply(t);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(removed.load());
  set.EndRewrite(true);
  remover.join();
  EXPECT_TRUE(removed.load());
  EXPECT_EQ(set.size(), 0u);
}

TEST(LogOnlySetTest, TheRewriteWaitsForWindowsOpenedBeforeIt) {
  LogOnlySet set;
  const uint64_t w = set.BeginApply();  // a write in progress
  std::atomic<bool> begun{false};
  std::vector<Delivery> rewrite;
  std::thread checkpoint([&] {
    rewrite = set.BeginRewrite(UINT64_MAX);
    begun.store(true);
    set.EndRewrite(true);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(begun.load());
  set.Add({At(7)}, 0);  // what the write registers is in the rewrite
  set.EndApply(w);
  checkpoint.join();
  ASSERT_EQ(rewrite.size(), 1u);
  EXPECT_EQ(rewrite[0].key.seq, 7u);
}

TEST(LogOnlySetTest, TheArchivedScopeTakesWhatMayLieBelowTheLiveFiles) {
  LogOnlySet set;
  set.Add({At(1)}, /*seq_before=*/10);
  set.Add({At(2)}, /*seq_before=*/20);
  std::vector<Delivery> rewrite = set.BeginRewrite(/*live_from=*/15);
  ASSERT_EQ(rewrite.size(), 1u);
  EXPECT_EQ(rewrite[0].key.seq, 1u);
  set.EndRewrite(false);  // the write failed: both stay
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(set.BeginRewrite(UINT64_MAX).size(), 2u);
  set.EndRewrite(true);
  EXPECT_EQ(set.size(), 0u);
}

}  // namespace set_test
}  // namespace
}  // namespace outboxd
