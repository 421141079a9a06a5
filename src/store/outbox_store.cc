// OutboxStore: open and recovery, Apply, the due-ordered scans and the due
// index around them. Lookups and maintenance are in store_queries.cc.

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "outboxd/crash_point.h"
#include "outboxd/log.h"
#include "outboxd/store.h"
#include "rocksdb/perf_context.h"
#include "rocksdb/perf_level.h"
#include "store/changes_impl.h"
#include "store/coding.h"
#include "store/crc32c.h"
#include "store/keys.h"
#include "store/status.h"
#include "store/store_core.h"
#include "store/values.h"

namespace outboxd {

using store_internal::DueIndex;
using store_internal::kOutboxCf;
using store_internal::OutboxPos;
using store_internal::StoreCore;

namespace {

thread_local uint64_t last_scan_skipped = 0;

// Counts the internal keys (tombstones, shadowed versions) the iterator steps
// over while alive, for LastScanSkippedInternalKeys. Count-only perf level:
// no timers, a few increments per key.
class SkippedKeysCounter {
 public:
  SkippedKeysCounter() : previous_level_(rocksdb::GetPerfLevel()) {
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
    start_ = Skipped();
  }
  ~SkippedKeysCounter() {
    last_scan_skipped = Skipped() - start_;
    rocksdb::SetPerfLevel(previous_level_);
  }

 private:
  static uint64_t Skipped() {
    const rocksdb::PerfContext* ctx = rocksdb::get_perf_context();
    return ctx->internal_delete_skipped_count + ctx->internal_key_skipped_count;
  }
  rocksdb::PerfLevel previous_level_;
  uint64_t start_ = 0;
};

absl::StatusOr<uint64_t> ReadSeqLease(const StoreCore& core) {
  std::string value;
  rocksdb::Status s =
      core.db->db()->Get(rocksdb::ReadOptions(), core.db->cf(store_internal::kMetaCf),
                         store_internal::kSeqLeaseName, &value);
  if (s.IsNotFound()) return 1;
  if (!s.ok()) return store_internal::ToStatus(s, "read seq lease");
  if (value.size() != 8) return store_internal::CorruptionError("open", "seq lease");
  return store_internal::DecodeFixed64(value.data());
}

absl::Status StartSequences(StoreCore& core) {
  absl::StatusOr<uint64_t> lease = ReadSeqLease(core);
  if (!lease.ok()) return lease.status();
  rocksdb::DB* db = core.db->db();
  rocksdb::ColumnFamilyHandle* meta = core.db->cf(store_internal::kMetaCf);
  const rocksdb::WriteOptions synced = core.synced;
  auto persist = [db, meta, synced](uint64_t limit) {
    return store_internal::ToStatus(db->Put(synced, meta, store_internal::kSeqLeaseName,
                                            store_internal::EncodeFixed64(limit)),
                                    "persist seq lease");
  };
  auto alloc = store_internal::SequenceAllocator::Create(
      *lease, store_internal::kDefaultSeqLeaseStep, std::move(persist));
  if (!alloc.ok()) return alloc.status();
  core.seq = *std::move(alloc);
  return absl::OkStatus();
}

// One seek per integration: note the first key's due, jump to the next id.
absl::Status RebuildDueIndex(StoreCore& core) {
  std::unique_ptr<rocksdb::Iterator> it(
      core.db->db()->NewIterator(rocksdb::ReadOptions(), core.db->cf(kOutboxCf)));
  for (it->SeekToFirst(); it->Valid();) {
    std::optional<DeliveryKey> key =
        store_internal::ParseOutboxKey(it->key().ToStringView());
    if (!key) return store_internal::CorruptionError("rebuild due index", "outbox key");
    core.due_index.Seed(key->integration_id, key->due_ms);
    if (key->integration_id == UINT64_MAX) break;
    it->Seek(store_internal::IdKey(key->integration_id + 1));
  }
  return store_internal::ToStatus(it->status(), "rebuild due index");
}

bool KeyOrder(const DeliveryKey& a, const DeliveryKey& b) {
  return std::tie(a.integration_id, a.due_ms, a.seq) <
         std::tie(b.integration_id, b.due_ms, b.seq);
}

struct ScanResult {
  size_t handed_out = 0;
  OutboxPos resume;                     // first position not handed out
  TimeMs first_unscanned_due = kNoDue;  // due at `resume`, kNoDue if exhausted
  bool drained = true;                  // false: stopped at max_items
};

// Bounded on both ends: [integration . start, next integration). No snapshot
// is kept beyond the iterator's own life.
// Keys the ticket gives the due index's fresh list are stepped over.
absl::StatusOr<ScanResult> ScanRange(const StoreCore& core, uint64_t integration_id,
                                     OutboxPos start, TimeMs now, size_t max_items,
                                     const DueIndex::ScanTicket& ticket,
                                     absl::FunctionRef<void(Delivery&&)> fn) {
  SkippedKeysCounter counter;
  store_internal::BoundedIterator it(*core.db, kOutboxCf,
                                     store_internal::OutboxKey(integration_id, start),
                                     store_internal::IdPrefixEnd(integration_id));
  ScanResult r;
  r.resume = start;
  for (it.SeekToLower(); it->Valid(); it->Next()) {
    std::optional<DeliveryKey> key =
        store_internal::ParseOutboxKey(it->key().ToStringView());
    if (!key || key->integration_id != integration_id) {
      return store_internal::CorruptionError("scan", "outbox key");
    }
    const OutboxPos pos{key->due_ms, key->seq};
    if (key->due_ms > now || r.handed_out == max_items) {
      r.resume = pos;
      r.first_unscanned_due = key->due_ms;
      r.drained = key->due_ms > now;
      return r;
    }
    r.resume = store_internal::Successor(pos);
    if (ticket.fresh.Contains(key->seq)) continue;
    Delivery delivery;
    delivery.key = *key;
    if (!store_internal::DecodeDeliveryValue(it->value().ToStringView(), &delivery)) {
      return store_internal::CorruptionError("scan", "delivery value");
    }
    fn(std::move(delivery));
    ++r.handed_out;
  }
  if (!it->status().ok()) return store_internal::ToStatus(it->status(), "scan");
  return r;
}

}  // namespace

OutboxStore::OutboxStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OutboxStore::~OutboxStore() = default;

absl::StatusOr<std::unique_ptr<OutboxStore>> OutboxStore::Open(
    const StoreOptions& options) {
  auto impl = std::make_unique<Impl>();
  StoreCore& core = impl->core;
  core.options = options;
  core.write_options.sync = options.sync;
  core.synced.sync = true;
  core.deferred.sync = false;
  // The phases' times go to the log: after a crash, the reopen is what
  // stands between the operator and a running service.
  using SteadyClock = std::chrono::steady_clock;
  auto ms_since = [](SteadyClock::time_point t) {
    return std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count();
  };
  const auto t0 = SteadyClock::now();
  absl::StatusOr<std::unique_ptr<store_internal::Db>> db =
      store_internal::Db::Open(options);
  if (!db.ok()) return db.status();
  core.db = *std::move(db);
  if (absl::Status s = StartSequences(core); !s.ok()) return s;
  const double rocksdb_ms = ms_since(t0);
  core.log_only_enabled = options.log_only_deliveries && options.fresh_cache_bytes > 0;
  // Always: a run with log-only deliveries off restores what an earlier
  // run with them on left in the WAL.
  const auto t1 = SteadyClock::now();
  if (absl::Status s = store_internal::RestoreLogOnly(core); !s.ok()) return s;
  const double restore_ms = ms_since(t1);
  if (options.fresh_cache_bytes > 0) {
    store_internal::SequenceAllocator* seq = core.seq.get();
    core.due_index.EnableFresh(options.fresh_cache_bytes, [seq] { return seq->Peek(); });
  }
  const auto t2 = SteadyClock::now();
  if (absl::Status s = RebuildDueIndex(core); !s.ok()) return s;
  Log(LogLevel::kInfo, "store opened",
      {{"rocksdb_open_ms", rocksdb_ms},
       {"log_only_restore_ms", restore_ms},
       {"due_index_ms", ms_since(t2)},
       {"log_only_restored", core.log_only_restored}});
  return std::unique_ptr<OutboxStore>(new OutboxStore(std::move(impl)));
}

std::string_view OutboxStore::ChecksumImplementation() {
  return store_internal::Crc32cImplementation();
}

Changes OutboxStore::NewChanges(size_t reserve_bytes) {
  return Changes(this, reserve_bytes);
}

absl::Status OutboxStore::Apply(Changes changes, Sync sync) {
  Changes::Impl* c = changes.impl_.get();
  StoreCore& core = impl_->core;
  if (c == nullptr) return absl::InvalidArgumentError("apply: moved-from Changes");
  if (c->core != &core)
    return absl::InvalidArgumentError("apply: Changes of another store");
  if (!c->error.ok()) return c->error;
  c->AppendQueuedCounts();
  if (c->batch.Count() == 0 && c->log_only_count == 0) return absl::OkStatus();
  // A write that adds log-only deliveries or removes outbox keys runs in a
  // window of the log-only set (store/log_only.h): a checkpoint waits for
  // it, and its removals are ordered after a rewrite of the same keys.
  store_internal::LogOnlySet& log_only = core.log_only;
  const bool removes = !c->removals.empty() || !c->purged.empty();
  const bool windowed = c->log_only_count > 0 || (core.log_only_enabled && removes);
  const uint64_t ticket = windowed ? log_only.BeginApply() : 0;
  store_internal::LogOnlySet::Removal removal;
  if (windowed && removes) {
    removal.runs = std::move(c->removals);
    removal.purged = c->purged;
    log_only.BeginRemoval(ticket, &removal);
  }
  // Read before the write: the batch gets a higher number (log_only.h).
  const uint64_t seq_before =
      c->log_only_count > 0 ? core.db->db()->GetLatestSequenceNumber() : 0;
  OUTBOXD_CRASH_POINT("store.apply.before_write");
  // Concurrent callers form one write group: one WAL write, one fsync.
  // A deferred batch joins a synced group (and is synced with it) or leads
  // one of its own without an fsync.
  const bool deferred = sync == Sync::kDeferred;
  rocksdb::Status s =
      core.db->db()->Write(deferred ? core.deferred : core.write_options, &c->batch);
  if (!s.ok()) {
    if (windowed) {
      log_only.EndRemoval(removal, false);
      log_only.EndApply(ticket);
    }
    core.write_failed.store(true, std::memory_order_release);
    // Nothing is listed; should the write have become visible anyway, the
    // RocksDB scans find it.
    for (const auto& [id, pos] : c->min_written) core.due_index.OnWriteFailed(id, pos);
    return store_internal::ToStatus(s, "apply");
  }
  OUTBOXD_CRASH_POINT("store.apply.after_write");
  if (deferred) core.deferred_unsynced.store(true, std::memory_order_release);
  if (c->log_only_count > 0) {
    core.log_only_written.fetch_add(c->log_only_count, std::memory_order_relaxed);
  }
  for (uint64_t id : c->purged) core.due_index.Erase(id);
  if (c->keep_fresh) {
    std::vector<Delivery> written_log_only;
    absl::flat_hash_map<uint64_t, std::vector<Delivery>> fresh =
        c->TakeFreshDeliveries(&written_log_only);
    // The log-only keys in key order, to tell one that OnWritten leaves
    // unlisted from a Put.
    std::vector<DeliveryKey> log_only_keys;
    log_only_keys.reserve(written_log_only.size());
    for (const Delivery& d : written_log_only) log_only_keys.push_back(d.key);
    if (!std::is_sorted(log_only_keys.begin(), log_only_keys.end(), KeyOrder)) {
      std::sort(log_only_keys.begin(), log_only_keys.end(), KeyOrder);
    }
    if (windowed) {
      log_only.EndRemoval(removal, true);
      // Before OnWritten lists them: the dispatcher may remove a delivery
      // as soon as it is listed, and its removal must find it in the set.
      if (!written_log_only.empty()) {
        log_only.Add(std::move(written_log_only), seq_before);
      }
      log_only.EndApply(ticket);
    }
    bool unlisted = false;
    for (const auto& [id, pos] : c->min_written) {
      std::vector<Delivery>& written = fresh[id];
      core.due_index.OnWritten(id, pos, &written);
      for (size_t i = 0; i < written.size() && !log_only_keys.empty() && !unlisted; ++i) {
        unlisted = std::binary_search(log_only_keys.begin(), log_only_keys.end(),
                                      written[i].key, KeyOrder);
      }
    }
    // A log-only delivery left unlisted (its list was dropped, or emptied
    // and armed again, since the batch was built) is found by no scan until
    // it is a Put.
    if (unlisted) log_only.RequestCheckpoint();
  } else {
    if (windowed) {
      log_only.EndRemoval(removal, true);
      log_only.EndApply(ticket);
    }
    for (const auto& [id, pos] : c->min_written) core.due_index.OnWritten(id, pos);
  }
  if (core.due_listener) {
    for (const auto& [id, pos] : c->min_written) core.due_listener(id, pos.due_ms);
  }
  return absl::OkStatus();
}

void OutboxStore::SetDueListener(std::function<void(uint64_t, TimeMs)> fn) {
  impl_->core.due_listener = std::move(fn);
}

absl::StatusOr<size_t> OutboxStore::ScanDue(uint64_t integration_id, TimeMs now,
                                            size_t max_items,
                                            absl::FunctionRef<void(Delivery&&)> fn) {
  last_scan_skipped = 0;
  if (max_items == 0) return 0;
  StoreCore& core = impl_->core;
  // A dropped fresh list may have held log-only deliveries, which no scan
  // finds until a checkpoint rewrites them as Puts.
  if (core.log_only_enabled &&
      (core.due_index.TakeDropped() || core.log_only.checkpoint_requested())) {
    core.log_only.RequestCheckpoint();
    if (absl::Status s = Checkpoint(CheckpointScope::kAll); !s.ok()) return s;
  }
  // Fresh deliveries are handed to fn outside the index's lock: fn may be
  // slow. The buffer is borrowed from the thread, so that a dispatcher
  // scanning all day does not grow one per call (a nested call would find
  // it taken and use its own).
  thread_local std::vector<Delivery> spare;
  std::vector<Delivery> fresh = std::move(spare);
  fresh.clear();
  auto hand_out_fresh = [&] {
    for (Delivery& d : fresh) fn(std::move(d));
    const size_t n = fresh.size();
    fresh.clear();
    return n;
  };
  // A capped list comes first (it holds the older deliveries): emptied, it
  // is armed again.
  const DueIndex::ScanTicket ticket =
      core.due_index.BeginScan(integration_id, now, max_items, &fresh);
  size_t handed_out = hand_out_fresh();
  absl::Status status;
  if (ticket.scan_rocks) {
    absl::StatusOr<ScanResult> r = ScanRange(core, integration_id, ticket.start, now,
                                             max_items - handed_out, ticket, fn);
    if (r.ok()) {
      core.due_index.EndScan(integration_id, ticket, r->resume, r->first_unscanned_due,
                             r->drained);
      handed_out += r->handed_out;
    } else {
      core.due_index.AbortScan(integration_id, ticket);
      status = r.status();
    }
  }
  if (status.ok() && handed_out < max_items && ticket.fresh.armed() &&
      !ticket.fresh.capped()) {
    core.due_index.TakeFresh(integration_id, now, max_items - handed_out, &fresh);
    handed_out += hand_out_fresh();
  }
  spare = std::move(fresh);
  if (!status.ok()) return status;
  return handed_out;
}

TimeMs OutboxStore::NextDue(uint64_t integration_id) const {
  return impl_->core.due_index.NextDue(integration_id);
}

std::vector<uint64_t> OutboxStore::DueIntegrations(TimeMs now) const {
  return impl_->core.due_index.DueIntegrations(now);
}

std::vector<uint64_t> OutboxStore::TakeDueChanges() {
  return impl_->core.due_index.TakeChanged();
}

void OutboxStore::ResetCursor(uint64_t integration_id) {
  StoreCore& core = impl_->core;
  // What the caller dropped may be log-only, in no column family: rewritten
  // as Puts first, the scan from the start finds it.
  if (core.log_only_enabled && core.log_only.Holds(integration_id)) {
    if (absl::Status s = Checkpoint(CheckpointScope::kAll); !s.ok()) {
      Log(LogLevel::kWarn,
          "checkpoint before a cursor reset failed; the next scan retries",
          {{"integration", integration_id}, {"error", s.ToString()}});
      core.log_only.RequestCheckpoint();
    }
  }
  DueIndex& index = core.due_index;
  const uint64_t token = index.BeginReset(integration_id);
  absl::StatusOr<TimeMs> first = OldestDue(integration_id);
  // On a read error stay "due now": the next scan finds the truth.
  index.EndReset(integration_id, token, first.ok() ? *first : 0);
}

absl::StatusOr<TimeMs> OutboxStore::OldestDue(uint64_t integration_id) const {
  // Seek from the due index's hint (at or below every queued key), not from
  // the range's start: the tombstones of what was delivered before the last
  // call are behind it. Metrics and stats call this for every integration.
  DueIndex& index = impl_->core.due_index;
  const DueIndex::OldestHint hint = index.GetOldestHint(integration_id);
  // Log-only deliveries are in no column family (docs/storage.md).
  const TimeMs log_only = impl_->core.log_only_enabled
                              ? impl_->core.log_only.OldestDue(integration_id)
                              : kNoDue;
  SkippedKeysCounter counter;
  store_internal::BoundedIterator it(*impl_->core.db, kOutboxCf,
                                     store_internal::OutboxKey(integration_id, hint.pos),
                                     store_internal::IdPrefixEnd(integration_id));
  it.SeekToLower();
  if (!it->Valid()) {
    if (!it->status().ok()) return store_internal::ToStatus(it->status(), "oldest due");
    index.RaiseOldestHint(integration_id, hint.token, store_internal::kInfinitePos);
    return log_only;
  }
  std::optional<DeliveryKey> key =
      store_internal::ParseOutboxKey(it->key().ToStringView());
  if (!key || key->integration_id != integration_id) {
    return store_internal::CorruptionError("oldest due", "outbox key");
  }
  index.RaiseOldestHint(integration_id, hint.token, OutboxPos{key->due_ms, key->seq});
  return std::min(key->due_ms, log_only);
}

absl::Status OutboxStore::PurgeIntegration(uint64_t integration_id) {
  StoreCore& core = impl_->core;
  const std::string begin = store_internal::IdKey(integration_id);
  const std::string end = store_internal::IdPrefixEnd(integration_id);
  rocksdb::WriteBatch batch;
  for (store_internal::Cf cf :
       {store_internal::kOutboxCf, store_internal::kDeadCf, store_internal::kStatsCf}) {
    batch.DeleteRange(core.db->cf(cf), begin, end);
  }
  batch.Delete(core.db->cf(store_internal::kIntegrationsCf), begin);
  batch.Delete(core.db->cf(store_internal::kMetaCf),
               store_internal::QueuedCountName(integration_id));
  // Ordered against a checkpoint's rewrite like any removal (Apply).
  const uint64_t ticket = core.log_only.BeginApply();
  store_internal::LogOnlySet::Removal removal;
  removal.purged.push_back(integration_id);
  core.log_only.BeginRemoval(ticket, &removal);
  rocksdb::Status s = core.db->db()->Write(core.synced, &batch);
  core.log_only.EndRemoval(removal, s.ok());
  core.log_only.EndApply(ticket);
  if (!s.ok()) return store_internal::ToStatus(s, "purge integration");
  core.due_index.Erase(integration_id);
  return absl::OkStatus();
}

uint64_t OutboxStore::FreshCacheBytes() const {
  return impl_->core.due_index.fresh_bytes();
}

OutboxStore::FreshListCounts OutboxStore::FreshLists() const {
  const store_internal::DueIndex::FreshCounts c = impl_->core.due_index.fresh_counts();
  return {c.capped, c.dropped};
}

uint64_t OutboxStore::LastScanSkippedInternalKeys() { return last_scan_skipped; }

}  // namespace outboxd

#if defined(__SANITIZE_THREAD__)
// Debian's librocksdb is not built with ThreadSanitizer: its synchronization
// (the write group of a group commit, where the leader copies the followers'
// batches) is invisible to TSan, while the std::string code it runs is ours
// and instrumented, and so are the memcmp/memcpy interceptors it calls on
// its lock-free memtable. Reports with a RocksDB frame are noise; races
// in outboxd's own code stay reported. Every binary linking the store under
// TSan gets this (the runtime asks for it by this name).
extern "C" const char* __tsan_default_suppressions() {
  return "race:rocksdb::\n"
         "called_from_lib:librocksdb.so\n";
}
#endif
