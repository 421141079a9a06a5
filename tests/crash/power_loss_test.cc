// Power loss: the store on PowerLossFs, which drops every byte not covered
// by a Sync/Fsync when the power is cut. Writer threads apply batches
// (enqueue a few deliveries, remove one acknowledged earlier) with sync on;
// at a random moment the power goes, the store is closed, the unsynced bytes
// are dropped (all of them, or all but a random torn prefix), and the store
// is reopened. Every acknowledged batch must be there, in full; every batch
// in flight at the cut must be all or nothing; queued counts must match.
// With sync off the same procedure must lose acknowledged batches, which
// shows the file system really drops what was not synced.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "crash/power_loss_fs.h"
#include "fakes/temp_dir.h"
#include "gtest/gtest.h"
#include "outboxd/mutex.h"
#include "outboxd/store.h"
#include "store/store_test_util.h"
#include "rocksdb/env.h"

namespace outboxd {
namespace {

constexpr uint64_t kIntegrations = 3;
constexpr TimeMs kDue = 1000;
constexpr TimeMs kScanNow = 1'000'000;
constexpr int kWriters = 4;

// One batch: deliveries it enqueues (by event text) and the one it removes.
struct Batch {
  std::vector<std::string> enqueued;
  std::string removed;  // empty: none
};

// What the store must hold, and the batches whose fate is open.
struct Model {
  std::map<std::string, DeliveryKey> present;  // acknowledged, not removed
  std::vector<Batch> in_flight;                // applied when the power went
  size_t acked_batches = 0;
};

class PowerLossTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = std::make_shared<PowerLossFs>(rocksdb::FileSystem::Default());
    env_ = rocksdb::NewCompositeEnv(fs_);
  }

  StoreOptions Options(bool sync) const {
    StoreOptions options;
    options.path = dir_.Sub("outbox");
    options.sync = sync;
    options.env = env_.get();
    options.write_buffer_bytes = 1 << 20;  // small: flushes and SSTs happen too
    options.block_cache_bytes = 1 << 20;
    return options;
  }

  std::unique_ptr<OutboxStore> Open(bool sync) {
    auto store = OutboxStore::Open(Options(sync));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // The seqs of what `store` hands out for `integration`, due by `now`.
  static std::vector<uint64_t> DueSeqs(OutboxStore& store, uint64_t integration,
                                       TimeMs now) {
    std::vector<uint64_t> seqs;
    EXPECT_TRUE(store
                    .ScanDue(integration, now, SIZE_MAX,
                             [&](Delivery&& d) { seqs.push_back(d.key.seq); })
                    .ok());
    return seqs;
  }

  // Writers apply batches until the power is cut after `cut_after` acks.
  void RunRound(OutboxStore* store, int round, size_t cut_after, std::mt19937_64& rng);
  void Writer(OutboxStore* store, int round, int writer, size_t cut_after, uint64_t seed);
  // Reopens, compares with the model, and makes the model the store's state.
  void Verify(bool sync, const std::string& label);

  TempDir dir_;
  std::shared_ptr<PowerLossFs> fs_;
  std::unique_ptr<rocksdb::Env> env_;
  Mutex mu_;
  Model model_ ABSL_GUARDED_BY(mu_);
  bool cut_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> failures_ ABSL_GUARDED_BY(mu_);
};

void PowerLossTest::Writer(OutboxStore* store, int round, int writer, size_t cut_after,
                           uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::pair<std::string, DeliveryKey>> mine;  // acked by this writer this round
  for (int n = 0;; ++n) {
    Changes changes = store->NewChanges();
    Batch batch;
    const int count = std::uniform_int_distribution<int>(1, 5)(rng);
    std::vector<std::pair<std::string, DeliveryKey>> added;
    for (int j = 0; j < count; ++j) {
      std::string event = absl::StrCat("{\"round\":", round, ",\"writer\":", writer,
                                       ",\"batch\":", n, ",\"item\":", j, "}");
      const uint64_t integration = 1 + (n + j) % kIntegrations;
      added.emplace_back(event, changes.Enqueue(integration, "new_hits", event, kDue, kDue));
      batch.enqueued.push_back(event);
    }
    if (!mine.empty() && rng() % 2 == 0) {
      const size_t pick = rng() % mine.size();
      changes.Remove(mine[pick].second);
      batch.removed = mine[pick].first;
      mine.erase(mine.begin() + static_cast<ptrdiff_t>(pick));
    }
    const absl::Status status = store->Apply(std::move(changes));
    MutexLock lock(&mu_);
    // The cut is flagged before the file system loses power (both under
    // mu_), so an Apply seen OK with the flag clear was synced before it.
    if (cut_) {
      model_.in_flight.push_back(std::move(batch));
      return;
    }
    if (!status.ok()) {
      failures_.push_back(absl::StrCat("Apply failed with the power on: ", status.ToString()));
      return;
    }
    for (auto& [event, key] : added) {
      model_.present[event] = key;
      mine.emplace_back(event, key);
    }
    if (!batch.removed.empty()) model_.present.erase(batch.removed);
    if (++model_.acked_batches >= cut_after) {
      cut_ = true;
      fs_->CutPower();
    }
  }
}

void PowerLossTest::RunRound(OutboxStore* store, int round, size_t cut_after,
                             std::mt19937_64& rng) {
  {
    MutexLock lock(&mu_);
    cut_ = false;
    model_.acked_batches = 0;
    model_.in_flight.clear();
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back(&PowerLossTest::Writer, this, store, round, w, cut_after, rng());
  }
  for (std::thread& t : writers) t.join();
}

void PowerLossTest::Verify(bool sync, const std::string& label) {
  std::unique_ptr<OutboxStore> store = Open(sync);
  ASSERT_NE(store, nullptr) << label;
  std::map<std::string, DeliveryKey> found;
  for (uint64_t id = 1; id <= kIntegrations; ++id) {
    size_t n = 0;
    auto scanned = store->ScanDue(id, kScanNow, 1 << 20, [&](Delivery&& d) {
      found[std::string(d.event)] = d.key;
      ++n;
    });
    ASSERT_TRUE(scanned.ok()) << scanned.status();
    EXPECT_EQ(store->QueuedCount(id), n) << label << ": queued count of " << id;
  }
  MutexLock lock(&mu_);
  std::set<std::string> removal_in_flight;
  for (const Batch& batch : model_.in_flight) removal_in_flight.insert(batch.removed);
  for (const auto& [event, key] : model_.present) {
    // One an in-flight batch removes is checked with its batch below.
    if (removal_in_flight.contains(event)) continue;
    EXPECT_TRUE(found.contains(event)) << label << ": acknowledged delivery lost: " << event;
  }
  for (const Batch& batch : model_.in_flight) {
    size_t there = 0;
    for (const std::string& e : batch.enqueued) there += found.contains(e);
    const bool applied = there == batch.enqueued.size();
    EXPECT_TRUE(there == 0 || applied) << label << ": batch torn: " << there << " of "
                                       << batch.enqueued.size() << " there";
    if (!batch.removed.empty()) {
      EXPECT_EQ(found.contains(batch.removed), !applied)
          << label << ": the removal of " << batch.removed << " disagrees with its batch";
    }
  }
  // An acknowledged removal holds: nothing is there that the model lacks,
  // apart from in-flight batches' enqueues.
  std::set<std::string> allowed;
  for (const Batch& batch : model_.in_flight) {
    allowed.insert(batch.enqueued.begin(), batch.enqueued.end());
  }
  for (const auto& [event, key] : found) {
    EXPECT_TRUE(model_.present.contains(event) || allowed.contains(event))
        << label << ": delivery back from the dead: " << event;
  }
  for (const std::string& f : failures_) ADD_FAILURE() << label << ": " << f;
  failures_.clear();
  model_.present = std::move(found);
}

enum class Loss { kDropAllUnsynced, kTornTail };

class PowerLossModeTest : public PowerLossTest,
                          public ::testing::WithParamInterface<Loss> {};

TEST_P(PowerLossModeTest, AcknowledgedBatchesSurvive) {
  std::mt19937_64 rng(testing::UnitTest::GetInstance()->random_seed());
  constexpr int kRounds = 8;
  uint64_t dropped = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string label = absl::StrCat("round ", round);
    std::unique_ptr<OutboxStore> store = Open(/*sync=*/true);
    ASSERT_NE(store, nullptr);
    RunRound(store.get(), round, std::uniform_int_distribution<size_t>(5, 120)(rng), rng);
    store.reset();  // closes with the power off: its last writes fail
    const absl::Status restored =
        fs_->RestorePower(GetParam() == Loss::kTornTail ? &rng : nullptr);
    ASSERT_TRUE(restored.ok()) << restored;
    dropped += fs_->bytes_dropped();
    Verify(/*sync=*/true, label);
    if (HasFatalFailure()) return;
  }
  EXPECT_EQ(fs_->untracked_writes(), 0u);
  MutexLock lock(&mu_);
  EXPECT_FALSE(model_.present.empty());
  // Flushes at close and in-flight batches leave unsynced bytes behind.
  RecordProperty("bytes_dropped", std::to_string(dropped));
}

INSTANTIATE_TEST_SUITE_P(Modes, PowerLossModeTest,
                         ::testing::Values(Loss::kDropAllUnsynced, Loss::kTornTail),
                         [](const auto& info) {
                           return info.param == Loss::kTornTail ? "TornTail" : "DropAllUnsynced";
                         });

// The control: sync off acknowledges batches the disk never got, so the
// same power loss must lose some. If it did not, the wrapper would not be
// dropping anything and the test above would prove nothing.
TEST_F(PowerLossTest, SyncOffLosesAcknowledgedBatches) {
  std::mt19937_64 rng(testing::UnitTest::GetInstance()->random_seed());
  std::unique_ptr<OutboxStore> store = Open(/*sync=*/false);
  ASSERT_NE(store, nullptr);
  RunRound(store.get(), 0, 200, rng);
  store.reset();
  size_t acknowledged = 0;
  {
    MutexLock lock(&mu_);
    acknowledged = model_.present.size();
  }
  const absl::Status restored = fs_->RestorePower(nullptr);
  ASSERT_TRUE(restored.ok()) << restored;
  EXPECT_GT(fs_->bytes_dropped(), 0u);
  std::unique_ptr<OutboxStore> reopened = Open(false);
  ASSERT_NE(reopened, nullptr);
  size_t found = 0;
  for (uint64_t id = 1; id <= kIntegrations; ++id) {
    ASSERT_TRUE(reopened->ScanDue(id, kScanNow, 1 << 20, [&](Delivery&&) { ++found; }).ok());
  }
  EXPECT_GT(acknowledged, 0u);
  EXPECT_LT(found, acknowledged) << "sync off lost nothing: the file system drops no data";
}

// Sync::kDeferred (the dispatcher's outcomes): such a batch is lost with the
// power until SyncDeferred or a later synced batch makes it durable. Each
// step reopens after a power loss.
TEST_F(PowerLossTest, DeferredBatchesNeedSyncDeferredOrALaterSyncedBatch) {
  // What a reopened store holds, by event text.
  auto queued = [this](std::unique_ptr<OutboxStore>& store) {
    store.reset();
    const absl::Status restored = fs_->RestorePower(nullptr);
    EXPECT_TRUE(restored.ok()) << restored;
    store = Open(true);
    std::set<std::string> events;
    auto scanned = store->ScanDue(
        1, kScanNow, 1 << 20, [&](Delivery&& d) { events.insert(std::string(d.event)); });
    EXPECT_TRUE(scanned.ok()) << scanned.status();
    EXPECT_EQ(store->QueuedCount(1), events.size());
    return events;
  };
  auto apply = [](OutboxStore* store, std::string_view event, OutboxStore::Sync sync,
                  const DeliveryKey* remove = nullptr) {
    Changes changes = store->NewChanges();
    const DeliveryKey key = changes.Enqueue(1, "new_hits", event, kDue, kDue);
    if (remove != nullptr) changes.Remove(*remove);
    EXPECT_TRUE(store->Apply(std::move(changes), sync).ok());
    return key;
  };
  using Sync = OutboxStore::Sync;
  std::unique_ptr<OutboxStore> store = Open(true);
  const DeliveryKey acked = apply(store.get(), "acked", Sync::kNow);
  ASSERT_TRUE(store->SyncDeferred().ok());  // nothing deferred yet: no-op
  EXPECT_EQ(store->deferred_syncs(), 0u);

  // Not synced: the power loss undoes the batch, removal included.
  apply(store.get(), "deferred-lost", Sync::kDeferred, &acked);
  fs_->CutPower();
  EXPECT_EQ(queued(store), (std::set<std::string>{"acked"}));

  // SyncDeferred makes it durable.
  apply(store.get(), "deferred-synced", Sync::kDeferred, &acked);
  ASSERT_TRUE(store->SyncDeferred().ok());
  ASSERT_TRUE(store->SyncDeferred().ok());  // synced already: no-op
  EXPECT_EQ(store->deferred_syncs(), 1u);
  fs_->CutPower();
  EXPECT_EQ(queued(store), (std::set<std::string>{"deferred-synced"}));

  // So does the next synced batch: the WAL is one file, synced in order.
  apply(store.get(), "deferred-then", Sync::kDeferred);
  apply(store.get(), "synced", Sync::kNow);
  fs_->CutPower();
  EXPECT_EQ(queued(store),
            (std::set<std::string>{"deferred-synced", "deferred-then", "synced"}));
}

// The mechanism itself: bytes after the last sync are gone, synced ones stay,
// and nothing can be written while the power is off.
TEST_F(PowerLossTest, DropsExactlyTheUnsyncedTail) {
  const std::string path = dir_.Sub("file");
  rocksdb::IOOptions io;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  ASSERT_TRUE(fs_->NewWritableFile(path, rocksdb::FileOptions(), &file, nullptr).ok());
  ASSERT_TRUE(file->Append("durable:", io, nullptr).ok());
  ASSERT_TRUE(file->Sync(io, nullptr).ok());
  ASSERT_TRUE(file->Append("volatile", io, nullptr).ok());
  ASSERT_TRUE(file->Flush(io, nullptr).ok());
  fs_->CutPower();
  EXPECT_FALSE(file->Append("more", io, nullptr).ok());
  EXPECT_FALSE(file->Sync(io, nullptr).ok());
  std::unique_ptr<rocksdb::FSWritableFile> other;
  EXPECT_FALSE(fs_->NewWritableFile(dir_.Sub("other"), rocksdb::FileOptions(), &other, nullptr)
                   .ok());
  EXPECT_TRUE(file->Close(io, nullptr).ok());
  uint64_t size = 0;
  ASSERT_TRUE(fs_->GetFileSize(path, io, &size, nullptr).ok());
  EXPECT_EQ(size, 16u);  // "durable:volatile" reached the OS before the cut
  const absl::Status restored = fs_->RestorePower(nullptr);
  ASSERT_TRUE(restored.ok()) << restored;
  ASSERT_TRUE(fs_->GetFileSize(path, io, &size, nullptr).ok());
  EXPECT_EQ(size, 8u);
  EXPECT_EQ(fs_->bytes_dropped(), 8u);
  EXPECT_TRUE(fs_->FileExists(dir_.Sub("other"), io, nullptr).IsNotFound());
}

// Log-only deliveries whose fresh list was dropped while writes failed: the
// checkpoint that would make them scannable fails too, and must be asked
// for again until one succeeds (a lost request left them unscannable until
// a restart; crash.disk_full found it). Then a power loss: all restored.
TEST_F(PowerLossTest, AFailedCheckpointIsAskedForAgainUntilOneSucceeds) {
  std::unique_ptr<OutboxStore> store = Open(/*sync=*/true);
  ASSERT_NE(store, nullptr);
  // Arms integration 1: what follows is log-only.
  ASSERT_TRUE(store->ScanDue(1, kScanNow, SIZE_MAX, [](Delivery&&) {}).ok());
  std::vector<uint64_t> written;
  Changes changes = store->NewChanges();
  for (int i = 0; i < 10; ++i) {
    written.push_back(changes
                          .Enqueue(1, "new_hits", absl::StrCat("{\"i\":", i, "}"),
                                   kScanNow + 1000, kDue)
                          .seq);
  }
  ASSERT_TRUE(store->Apply(std::move(changes)).ok());
  ASSERT_EQ(store->LogOnlyPending(), 10u);

  fs_->CutPower();
  store->ResetCursor(1);  // drops the list; its checkpoint fails
  // Each call tries again (and fails while the writes do): the request is
  // not used up by a failed attempt. Before, the second call returned OK
  // with nothing done.
  EXPECT_FALSE(store->MaybeCheckpoint().ok());
  EXPECT_FALSE(store->MaybeCheckpoint().ok());
  store.reset();
  ASSERT_TRUE(fs_->RestorePower(nullptr).ok());
  // RocksDB does not resume after this I/O error (crash.disk_full covers a
  // full disk that it does resume from); the reopen restores them all.
  store = Open(/*sync=*/true);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->LogOnlyRestoredAtOpen(), 10u);
  EXPECT_EQ(DueSeqs(*store, 1, kScanNow + 1000), written);
}

TEST_F(PowerLossTest, ACheckpointWhoseRewriteFailsKeepsTheArchive) {
  std::unique_ptr<OutboxStore> store = Open(/*sync=*/true);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->ScanDue(1, kScanNow, SIZE_MAX, [](Delivery&&) {}).ok());
  // ~6 MiB of log-only deliveries: past 4 write buffers of WAL, RocksDB
  // flushes and archives the older files, log-only records and all.
  std::vector<uint64_t> written;
  for (int b = 0; b < 60; ++b) {
    Changes changes = store->NewChanges();
    for (int i = 0; i < 100; ++i) {
      written.push_back(
          changes.Enqueue(1, "new_hits", std::string(1000, 'e'), kScanNow + 1000, kDue)
              .seq);
    }
    ASSERT_TRUE(store->Apply(std::move(changes)).ok());
  }
  const std::string path = Options(true).path;
  const size_t before = store_test::AwaitArchivedWalFile(path);
  ASSERT_GT(before, 0u);

  // A full disk: the rewrite fails, a deletion would not. The archive must
  // stay, for it holds the only copy of what the rewrite did not write.
  fs_->CutPower(PowerLossFs::Deletions::kStillWork);
  EXPECT_FALSE(store->Checkpoint(OutboxStore::CheckpointScope::kArchived).ok());
  EXPECT_EQ(store_test::ArchivedWalFiles(path), before);
  store.reset();
  ASSERT_TRUE(fs_->RestorePower(nullptr).ok());
  store = Open(/*sync=*/true);
  ASSERT_NE(store, nullptr);
  EXPECT_GT(store->LogOnlyRestoredAtOpen(), 0u);
  EXPECT_EQ(DueSeqs(*store, 1, kScanNow + 1000), written);
}

}  // namespace
}  // namespace outboxd
