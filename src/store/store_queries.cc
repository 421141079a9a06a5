// OutboxStore: lookups (integrations, stats, dead letters, request counts,
// meta), stats trimming, sizes and flush. Scans of id-prefixed column
// families skip from one id to the next with a seek, so their cost follows
// the number of ids and live entries, not what was deleted before them.

#include <algorithm>
#include <memory>
#include <optional>
#include <string>

#include "outboxd/store.h"
#include "rocksdb/transaction_log.h"
#include "rocksdb/write_batch.h"
#include "store/coding.h"
#include "store/keys.h"
#include "store/status.h"
#include "store/store_core.h"
#include "store/values.h"

namespace outboxd {

using store_internal::Cf;
using store_internal::CorruptionError;
using store_internal::StoreCore;
using store_internal::ToStatus;

namespace {

std::unique_ptr<rocksdb::Iterator> NewIterator(const StoreCore& core, Cf cf) {
  return std::unique_ptr<rocksdb::Iterator>(
      core.db->db()->NewIterator(rocksdb::ReadOptions(), core.db->cf(cf)));
}

absl::StatusOr<std::optional<std::string>> GetValue(const StoreCore& core, Cf cf,
                                                    std::string_view key,
                                                    std::string_view context) {
  std::string value;
  rocksdb::Status s =
      core.db->db()->Get(rocksdb::ReadOptions(), core.db->cf(cf), key, &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return ToStatus(s, context);
  return value;
}

}  // namespace

uint64_t OutboxStore::QueuedCount(uint64_t integration_id) const {
  absl::StatusOr<std::optional<std::string>> v =
      GetValue(impl_->core, store_internal::kMetaCf,
               store_internal::QueuedCountName(integration_id), "queued count");
  if (!v.ok() || !v->has_value() || (*v)->size() != 8) return 0;
  // Signed: removals of keys an earlier purge already deleted can push it
  // below zero; nothing is queued then.
  const auto n = static_cast<int64_t>(store_internal::DecodeFixed64((*v)->data()));
  return n < 0 ? 0 : static_cast<uint64_t>(n);
}

absl::Status OutboxStore::ForEachIntegration(
    absl::FunctionRef<void(uint64_t id, std::string_view record)> fn) const {
  auto it = NewIterator(impl_->core, store_internal::kIntegrationsCf);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::optional<uint64_t> id = store_internal::ParseIdKey(it->key().ToStringView());
    if (!id) return CorruptionError("integrations", "key");
    fn(*id, it->value().ToStringView());
  }
  return ToStatus(it->status(), "integrations");
}

absl::StatusOr<std::optional<std::string>> OutboxStore::GetIntegration(
    uint64_t id) const {
  return GetValue(impl_->core, store_internal::kIntegrationsCf, store_internal::IdKey(id),
                  "get integration");
}

absl::Status OutboxStore::ForEachStatsBucket(
    int64_t since_minute, absl::FunctionRef<void(const StatsBucket&)> fn) const {
  const int64_t since = std::max<int64_t>(since_minute, 0);
  auto it = NewIterator(impl_->core, store_internal::kStatsCf);
  for (it->SeekToFirst(); it->Valid();) {
    auto key = store_internal::ParsePairKey(it->key().ToStringView());
    if (!key) return CorruptionError("stats", "key");
    if (key->second < static_cast<uint64_t>(since)) {
      it->Seek(store_internal::TimePairKey(key->first, since));
      continue;
    }
    StatsBucket bucket{key->first, static_cast<int64_t>(key->second), 0, 0};
    if (!store_internal::DecodeStatsValue(it->value().ToStringView(), &bucket.requests,
                                          &bucket.failures)) {
      return CorruptionError("stats", "value");
    }
    fn(bucket);
    it->Next();
  }
  return ToStatus(it->status(), "stats");
}

absl::Status OutboxStore::TrimStats(int64_t before_minute) {
  const StoreCore& core = impl_->core;
  rocksdb::ColumnFamilyHandle* cf = core.db->cf(store_internal::kStatsCf);
  rocksdb::WriteBatch batch;
  auto it = NewIterator(core, store_internal::kStatsCf);
  for (it->SeekToFirst(); it->Valid();) {
    auto key = store_internal::ParsePairKey(it->key().ToStringView());
    if (!key) return CorruptionError("trim stats", "key");
    // The first bucket of each integration is its oldest one.
    if (before_minute > 0 && key->second < static_cast<uint64_t>(before_minute)) {
      batch.DeleteRange(cf, store_internal::TimePairKey(key->first, 0),
                        store_internal::TimePairKey(key->first, before_minute));
    }
    if (key->first == UINT64_MAX) break;
    it->Seek(store_internal::IdKey(key->first + 1));
  }
  if (!it->status().ok()) return ToStatus(it->status(), "trim stats");
  if (batch.Count() == 0) return absl::OkStatus();
  return ToStatus(core.db->db()->Write(core.write_options, &batch), "trim stats");
}

absl::Status OutboxStore::ForEachDead(uint64_t integration_id, size_t max_items,
                                      absl::FunctionRef<void(DeadDelivery&&)> fn) const {
  store_internal::BoundedIterator it(*impl_->core.db, store_internal::kDeadCf,
                                     store_internal::IdKey(integration_id),
                                     store_internal::IdPrefixEnd(integration_id));
  size_t n = 0;
  for (it.SeekToLower(); it->Valid() && n < max_items; it->Next(), ++n) {
    auto key = store_internal::ParsePairKey(it->key().ToStringView());
    if (!key) return CorruptionError("dead", "key");
    DeadDelivery dead;
    if (!store_internal::DecodeDeadValue(it->value().ToStringView(), &dead)) {
      return CorruptionError("dead", "value");
    }
    dead.delivery.key.integration_id = key->first;
    dead.delivery.key.seq = key->second;
    fn(std::move(dead));
  }
  return ToStatus(it->status(), "dead");
}

absl::Status OutboxStore::RemoveDead(uint64_t integration_id, uint64_t seq) {
  const StoreCore& core = impl_->core;
  return ToStatus(
      core.db->db()->Delete(core.write_options, core.db->cf(store_internal::kDeadCf),
                            store_internal::PairKey(integration_id, seq)),
      "remove dead");
}

absl::Status OutboxStore::ForEachRequestCount(
    int64_t hour, absl::FunctionRef<void(uint64_t company, uint64_t n)> fn) const {
  const uint64_t wanted = static_cast<uint64_t>(std::max<int64_t>(hour, 0));
  auto it = NewIterator(impl_->core, store_internal::kCountersCf);
  for (it->SeekToFirst(); it->Valid();) {
    auto key = store_internal::ParsePairKey(it->key().ToStringView());
    if (!key) return CorruptionError("counters", "key");
    if (key->second < wanted) {
      it->Seek(store_internal::PairKey(key->first, wanted));
      continue;
    }
    if (key->second == wanted) {
      const rocksdb::Slice v = it->value();
      if (v.size() != 8) return CorruptionError("counters", "value");
      fn(key->first, store_internal::DecodeFixed64(v.data()));
    }
    if (key->first == UINT64_MAX) break;
    it->Seek(store_internal::IdKey(key->first + 1));
  }
  return ToStatus(it->status(), "counters");
}

absl::StatusOr<std::optional<std::string>> OutboxStore::GetMeta(
    std::string_view name) const {
  return GetValue(impl_->core, store_internal::kMetaCf, name, "get meta");
}

StoreStats OutboxStore::Stats() const {
  const StoreCore& core = impl_->core;
  rocksdb::DB* db = core.db->db();
  StoreStats stats;
  for (rocksdb::ColumnFamilyHandle* cf : core.db->handles()) {
    uint64_t v = 0;
    if (db->GetIntProperty(cf, rocksdb::DB::Properties::kTotalSstFilesSize, &v)) {
      stats.live_sst_bytes += v;
    }
    if (db->GetIntProperty(cf, rocksdb::DB::Properties::kCurSizeAllMemTables, &v)) {
      stats.memtable_bytes += v;
    }
    if (db->GetIntProperty(cf, rocksdb::DB::Properties::kEstimatePendingCompactionBytes,
                           &v)) {
      stats.pending_compaction_bytes += v;
    }
  }
  uint64_t v = 0;
  if (db->GetIntProperty(core.db->cf(store_internal::kOutboxCf),
                         rocksdb::DB::Properties::kTotalSstFilesSize, &v)) {
    stats.outbox_sst_bytes = v;
  }
  // Both are of the whole database; asked of the default column family.
  if (db->GetIntProperty(rocksdb::DB::Properties::kIsWriteStopped, &v)) {
    stats.write_stopped = v != 0;
  }
  if (db->GetIntProperty(rocksdb::DB::Properties::kActualDelayedWriteRate, &v)) {
    stats.delayed_write_rate = v;
  }
  rocksdb::VectorLogPtr wal_files;
  if (db->GetSortedWalFiles(wal_files).ok()) {
    for (const auto& f : wal_files) stats.wal_bytes += f->SizeFileBytes();
  }
  return stats;
}

absl::Status OutboxStore::CompactOutbox() {
  const StoreCore& core = impl_->core;
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  return ToStatus(core.db->db()->CompactRange(options, core.db->cf(store_internal::kOutboxCf),
                                              nullptr, nullptr),
                  "compact outbox");
}

absl::StatusOr<bool> OutboxStore::Recover() {
  StoreCore& core = impl_->core;
  if (!core.write_failed.exchange(false, std::memory_order_acq_rel)) return false;
  // OK at once when RocksDB was not left in an error state (the write
  // failed alone); otherwise it flushes and clears the error, or fails.
  // After "no space" RocksDB recovers by itself (its SstFileManager polls
  // until a write buffer's worth of space is free) and answers Busy here
  // meanwhile; the next call after its recovery returns true.
  rocksdb::Status s = core.db->db()->Resume();
  if (!s.ok()) {
    core.write_failed.store(true, std::memory_order_release);
    if (s.IsBusy()) {
      return absl::UnavailableError(
          "RocksDB resumes by itself once a write buffer's worth of disk is free");
    }
    return ToStatus(s, "resume after a write error");
  }
  return true;
}

absl::Status OutboxStore::SyncDeferred() {
  StoreCore& core = impl_->core;
  // Cleared before the sync: a deferred write that lands during it sets the
  // flag again and is synced by the next call.
  if (!core.deferred_unsynced.exchange(false, std::memory_order_acq_rel)) {
    return absl::OkStatus();
  }
  // A synced write of a WAL-only record (no key in any column family), not
  // DB::SyncWAL: after a failed WAL append (disk full) Debian's librocksdb
  // aborts in SyncWAL on an assertion, while a write just returns the error.
  // no_slowdown: during a write stall the caller (the housekeeping thread,
  // which also refreshes the disk quota) gets an error to retry next time
  // instead of waiting for the stall to end.
  rocksdb::WriteOptions options = core.write_options;
  options.no_slowdown = true;
  rocksdb::WriteBatch marker;
  rocksdb::Status s = marker.PutLogData("sync deferred");
  if (s.ok()) s = core.db->db()->Write(options, &marker);
  if (!s.ok()) {
    core.deferred_unsynced.store(true, std::memory_order_release);
    return ToStatus(s, "sync deferred writes");
  }
  core.deferred_syncs.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

uint64_t OutboxStore::deferred_syncs() const {
  return impl_->core.deferred_syncs.load(std::memory_order_relaxed);
}

absl::Status OutboxStore::Flush() {
  const StoreCore& core = impl_->core;
  // Every log-only delivery becomes a Put first (a store closed after this
  // needs no restore), and the WAL files the flush makes obsolete, which
  // RocksDB archives, are deleted after it.
  if (absl::Status s = Checkpoint(CheckpointScope::kAll); !s.ok()) return s;
  const auto& handles = core.db->handles();
  rocksdb::FlushOptions fo;
  fo.wait = true;
  rocksdb::Status s = core.db->db()->Flush(
      fo, std::vector<rocksdb::ColumnFamilyHandle*>(handles.begin(), handles.end()));
  if (!s.ok()) return ToStatus(s, "flush");
  if (s = core.db->db()->SyncWAL(); !s.ok()) return ToStatus(s, "sync wal");
  return Checkpoint(CheckpointScope::kArchived);
}

}  // namespace outboxd
