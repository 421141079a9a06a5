// Log-only deliveries, the store's side: restoring them at open, and the
// checkpoint that rewrites them as Puts and deletes the archived WAL files
// (docs/storage.md, "Log-only deliveries").

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "outboxd/crash_point.h"
#include "outboxd/log.h"
#include "outboxd/store.h"
#include "rocksdb/transaction_log.h"
#include "store/changes_impl.h"
#include "store/keys.h"
#include "store/log_only.h"
#include "store/status.h"
#include "store/store_core.h"
#include "store/wal_reader.h"

namespace outboxd {

using store_internal::StoreCore;

namespace store_internal {
namespace {

// A WAL record (one write's batch) kept while a log-only delivery in it may
// still be restored: the pending deliveries are views into its bytes.
struct KeptBatch {
  std::unique_ptr<rocksdb::WriteBatch> batch;
  size_t live = 0;  // pending deliveries it holds; at 0 its bytes go
};

// What the outbox column family's side of the WAL says, batch by batch: a
// log-only record adds its delivery; a Put, SingleDelete, Delete or range
// tombstone of the outbox takes away the keys it covers (a rewrite, a
// removal, a purge). Deliveries are views into their kept batch, so a
// record costs no copy beyond the batch's own, and a batch whose deliveries
// were all removed later in the log is freed at once.
class LogOnlyCollector final : public rocksdb::WriteBatch::Handler {
 public:
  struct Delivery {
    KeptBatch* kept;
    std::string_view value;
  };
  // Keys are views too (into the same batch); string_view compares bytes
  // as unsigned, as RocksDB's bytewise comparator does.
  using Pending = absl::btree_map<std::string_view, Delivery>;

  explicit LogOnlyCollector(uint32_t outbox_cf) : outbox_cf_(outbox_cf) {}

  // Parses one record; keeps its bytes if it added a delivery. Not OK: the
  // record does not parse (nothing after it may be trusted).
  rocksdb::Status Collect(std::string_view record) {
    auto kept = std::make_unique<KeptBatch>();
    kept->batch = std::make_unique<rocksdb::WriteBatch>(std::string(record));
    current_ = kept.get();
    rocksdb::Status s = kept->batch->Iterate(this);
    current_ = nullptr;
    if (kept->live > 0) kept_.push_back(std::move(kept));
    return s;
  }

  const Pending& pending() const { return pending_; }

  void LogData(const rocksdb::Slice& blob) override {
    if (blob.size() < 1 + kOutboxKeySize || blob[0] != kLogOnlyFormat) return;
    const std::string_view key(blob.data() + 1, kOutboxKeySize);
    const std::string_view value(blob.data() + 1 + kOutboxKeySize,
                                 blob.size() - 1 - kOutboxKeySize);
    // A key is written once, but a view must point into the batch it
    // names, so a second record of it replaces the entry.
    EraseKey(key);
    pending_.emplace(key, Delivery{current_, value});
    ++current_->live;
  }
  rocksdb::Status PutCF(uint32_t cf, const rocksdb::Slice& key,
                        const rocksdb::Slice&) override {
    return Erase(cf, key);
  }
  rocksdb::Status DeleteCF(uint32_t cf, const rocksdb::Slice& key) override {
    return Erase(cf, key);
  }
  rocksdb::Status SingleDeleteCF(uint32_t cf, const rocksdb::Slice& key) override {
    return Erase(cf, key);
  }
  rocksdb::Status DeleteRangeCF(uint32_t cf, const rocksdb::Slice& begin,
                                const rocksdb::Slice& end) override {
    if (cf != outbox_cf_ || pending_.empty()) return rocksdb::Status::OK();
    auto first = pending_.lower_bound(begin.ToStringView());
    auto last = pending_.lower_bound(end.ToStringView());
    for (auto it = first; it != last; ++it) Release(it->second.kept);
    pending_.erase(first, last);
    return rocksdb::Status::OK();
  }
  rocksdb::Status MergeCF(uint32_t, const rocksdb::Slice&,
                          const rocksdb::Slice&) override {
    return rocksdb::Status::OK();
  }

 private:
  rocksdb::Status Erase(uint32_t cf, const rocksdb::Slice& key) {
    if (cf == outbox_cf_ && !pending_.empty()) EraseKey(key.ToStringView());
    return rocksdb::Status::OK();
  }
  void EraseKey(std::string_view key) {
    auto it = pending_.find(key);
    if (it == pending_.end()) return;
    Release(it->second.kept);
    pending_.erase(it);
  }
  static void Release(KeptBatch* kept) {
    if (--kept->live == 0) kept->batch.reset();
  }

  const uint32_t outbox_cf_;
  Pending pending_;
  KeptBatch* current_ = nullptr;
  std::vector<std::unique_ptr<KeptBatch>> kept_;
};

// Puts written per synced write while restoring.
constexpr size_t kRestoreBatchBytes = 8u << 20;

// Deleting a large file frees all its extents at once: on this project's
// VM (ext4) a 256 MiB archived WAL file took 67-100 ms to unlink, and the
// ingest workers' fdatasyncs waited behind it (p99 from 202 to arrival
// +15 ms by median). On the local file system the file is first cut down
// in steps, with a pause after each, so that a sync waits for one step
// at most. Through an injected Env (tests) it is just deleted.
constexpr uint64_t kTruncateStep = 8ull << 20;
constexpr auto kTruncatePause = std::chrono::milliseconds(2);

}  // namespace

bool DeleteArchivedWal(const StoreCore& core, const std::string& path, uint64_t size,
                       bool gently) {
  if (gently && core.options.env == nullptr) {
    for (uint64_t left = size; left > kTruncateStep;) {
      left -= kTruncateStep;
      if (::truncate(path.c_str(), static_cast<off_t>(left)) != 0) break;
      std::this_thread::sleep_for(kTruncatePause);
    }
  }
  rocksdb::Status s = core.db->db()->GetEnv()->DeleteFile(path);
  if (!s.ok()) {
    Log(LogLevel::kWarn, "cannot delete an archived WAL file",
        {{"file", path}, {"error", s.ToString()}});
  }
  return s.ok();
}

absl::Status RestoreLogOnly(StoreCore& core) {
  const auto t0 = std::chrono::steady_clock::now();
  rocksdb::DB* db = core.db->db();
  rocksdb::VectorLogPtr files;
  if (rocksdb::Status s = db->GetSortedWalFiles(files); !s.ok()) {
    return ToStatus(s, "list WAL files");
  }
  LogOnlyCollector collector(core.db->cf(kOutboxCf)->GetID());
  rocksdb::Env* env = db->GetEnv();
  const std::string& dir = db->GetName();
  uint64_t records = 0;
  bool stopped = false;  // a batch that does not parse: nothing after it
  for (const auto& file : files) {
    if (stopped) break;
    const std::string path = dir + file->PathName();
    absl::StatusOr<WalReadResult> read =
        ReadWalRecords(env, path, [&](std::string_view record) {
          if (stopped) return;
          if (rocksdb::Status s = collector.Collect(record); !s.ok()) {
            Log(LogLevel::kWarn,
                "a WAL record does not parse; later records are not read",
                {{"file", path}, {"error", s.ToString()}});
            stopped = true;
          }
        });
    if (!read.ok()) return read.status();
    records += read->records;
  }
  const LogOnlyCollector::Pending& pending = collector.pending();
  const auto t1 = std::chrono::steady_clock::now();
  rocksdb::WriteBatch batch;
  // Unsynced writes, one WAL sync after the last: the archive they replace
  // is deleted only after it.
  auto write = [&]() -> absl::Status {
    if (batch.Count() == 0) return absl::OkStatus();
    absl::Status s =
        ToStatus(db->Write(core.deferred, &batch), "restore log-only deliveries");
    batch.Clear();
    return s;
  };
  for (const auto& [key, delivery] : pending) {
    batch.Put(core.db->cf(kOutboxCf), key, delivery.value);
    if (batch.GetDataSize() >= kRestoreBatchBytes) {
      if (absl::Status s = write(); !s.ok()) return s;
    }
  }
  if (absl::Status s = write(); !s.ok()) return s;
  if (!pending.empty()) {
    if (absl::Status s = ToStatus(db->SyncWAL(), "sync restored log-only deliveries");
        !s.ok()) {
      return s;
    }
  }
  OUTBOXD_CRASH_POINT("store.restore.before_delete");
  // Every log-only record in the archive is now removed or a Put (above,
  // or by an earlier checkpoint) in a file that stays.
  for (const auto& file : files) {
    if (file->Type() != rocksdb::kArchivedLogFile) continue;
    DeleteArchivedWal(core, dir + file->PathName(), file->SizeFileBytes(),
                      /*gently=*/false);
  }
  core.log_only_restored = pending.size();
  if (!pending.empty()) {
    Log(LogLevel::kInfo, "restored log-only deliveries as Puts",
        {{"deliveries", pending.size()},
         {"wal_files", files.size()},
         {"wal_records", records},
         {"read_ms", std::chrono::duration<double, std::milli>(t1 - t0).count()},
         {"write_ms", std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - t1)
                          .count()}});
  }
  return absl::OkStatus();
}

}  // namespace store_internal

absl::Status OutboxStore::Checkpoint(CheckpointScope scope) {
  StoreCore& core = impl_->core;
  MutexLock lock(&core.checkpoint_mu);
  const bool requested =
      core.log_only.TakeCheckpointRequest() | core.due_index.TakeDropped();
  absl::Status status = CheckpointLocked(scope);
  // A failed checkpoint (a full disk) is asked for again: what a dropped
  // list held is found by no scan until one succeeds.
  if (!status.ok() && (requested || scope == CheckpointScope::kAll)) {
    core.log_only.RequestCheckpoint();
  }
  return status;
}

absl::Status OutboxStore::CheckpointLocked(CheckpointScope scope) {
  StoreCore& core = impl_->core;
  rocksdb::DB* db = core.db->db();
  const auto t0 = std::chrono::steady_clock::now();
  auto ms_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t)
        .count();
  };
  // The files to delete are listed first: every log-only record in them
  // was written by an Apply whose window opened before this line.
  rocksdb::VectorLogPtr files;
  if (rocksdb::Status s = db->GetSortedWalFiles(files); !s.ok()) {
    return store_internal::ToStatus(s, "list WAL files");
  }
  // Records below the first live file's first sequence number are in the
  // archived ones (no live file listed: they may all be).
  uint64_t live_from = UINT64_MAX;
  if (scope == CheckpointScope::kArchived) {
    for (const auto& file : files) {
      if (file->Type() == rocksdb::kAliveLogFile) {
        live_from = std::min(live_from, file->StartSequence());
      }
    }
  }
  const double list_ms = ms_since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  std::vector<Delivery> rewrite = core.log_only.BeginRewrite(live_from);
  const double wait_ms = ms_since(t1);
  const auto t2 = std::chrono::steady_clock::now();
  absl::Status status = absl::OkStatus();
  if (!rewrite.empty()) {
    Changes changes = NewChanges();
    changes.impl_->keep_fresh = false;  // Puts, never log-only again
    for (const Delivery& d : rewrite) {
      changes.impl_->PutDelivery(d.key, d.attempts, d.first_enqueued_ms, d.log_type,
                                 d.event);
    }
    status = Apply(std::move(changes), Sync::kNow);
  }
  core.log_only.EndRewrite(status.ok());
  if (!status.ok()) return status;
  OUTBOXD_CRASH_POINT("store.checkpoint.before_delete");
  const double rewrite_ms = ms_since(t2);
  const auto t3 = std::chrono::steady_clock::now();
  uint64_t deleted_bytes = 0;
  for (const auto& file : files) {
    if (file->Type() != rocksdb::kArchivedLogFile) continue;
    if (store_internal::DeleteArchivedWal(core, db->GetName() + file->PathName(),
                                          file->SizeFileBytes(), /*gently=*/true)) {
      deleted_bytes += file->SizeFileBytes();
    }
  }
  Log(LogLevel::kDebug, "log-only checkpoint",
      {{"scope", scope == CheckpointScope::kAll ? "all" : "archived"},
       {"rewritten", rewrite.size()},
       {"archive_bytes_deleted", deleted_bytes},
       {"list_ms", list_ms},
       {"wait_ms", wait_ms},
       {"rewrite_ms", rewrite_ms},
       {"delete_ms", ms_since(t3)}});
  return absl::OkStatus();
}

absl::Status OutboxStore::MaybeCheckpoint() {
  StoreCore& core = impl_->core;
  if (core.log_only_enabled) {
    if (core.due_index.TakeDropped()) core.log_only.RequestCheckpoint();
    if (core.log_only.checkpoint_requested()) return Checkpoint(CheckpointScope::kAll);
  }
  // The live WAL files hold their log-only records safely; only archived
  // ones cost disk and reopen time until a checkpoint frees them (also
  // with log-only deliveries off: RocksDB archives either way, db.cc).
  rocksdb::VectorLogPtr files;
  uint64_t archived = 0;
  if (rocksdb::Status s = core.db->db()->GetSortedWalFiles(files); !s.ok()) {
    return store_internal::ToStatus(s, "list WAL files");
  }
  for (const auto& f : files) {
    if (f->Type() == rocksdb::kArchivedLogFile) archived += f->SizeFileBytes();
  }
  if (archived < core.options.log_only_checkpoint_bytes) return absl::OkStatus();
  return Checkpoint(CheckpointScope::kArchived);
}

uint64_t OutboxStore::LogOnlyPending() const { return impl_->core.log_only.size(); }

uint64_t OutboxStore::LogOnlyRestoredAtOpen() const {
  return impl_->core.log_only_restored;
}

uint64_t OutboxStore::LogOnlyWritten() const {
  return impl_->core.log_only_written.load(std::memory_order_relaxed);
}

}  // namespace outboxd
