// The durable outbox: one RocksDB with one WAL; every state change that must
// be atomic (deliveries + stats + integration state + system notification)
// is one `Changes` batch applied with one (group-committed) fsync.
//
// Layout (docs/storage.md has the reasons; every number is an 8-byte
// big-endian integer, so keys sort numerically):
//   outbox        integration . due_ms . seq -> delivery
//   dead          integration . seq          -> reason + delivery
//   stats         integration . minute       -> requests, failures (merge: add)
//   counters      company . hour             -> requests processed (merge: add)
//   integrations  integration                -> opaque config record
//   meta          name                       -> value; "q/<id>" queued count (merge: add)
//
// The outbox is ordered per integration, then by due time: a disabled or
// broken integration is "parked" simply by not being scanned, a purge is a
// range delete, and a slow destination never blocks the scan of another.
//
// Thread safety: all methods are thread-safe. Scans of one integration must
// not run concurrently with each other (the dispatcher owns them).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "outboxd/clock.h"
#include "outboxd/shared_bytes.h"

namespace rocksdb {
class Env;
}

namespace outboxd {

inline constexpr TimeMs kNoDue = INT64_MAX;

struct DeliveryKey {
  uint64_t integration_id = 0;
  TimeMs due_ms = 0;
  uint64_t seq = 0;  // unique across the store's lifetime, never reused
  friend bool operator==(const DeliveryKey&, const DeliveryKey&) = default;
};

struct Delivery {
  DeliveryKey key;
  uint32_t attempts = 0;         // failed requests that carried it so far
  TimeMs first_enqueued_ms = 0;  // when it was first written
  std::string log_type;
  SharedBytes event;  // the event's JSON bytes, as received
};

struct DeadDelivery {
  Delivery delivery;
  std::string reason;  // e.g. "max age", "400 InvalidDataFormat: ..."
  TimeMs died_ms = 0;
};

struct StatsBucket {
  uint64_t integration_id = 0;
  int64_t minute = 0;
  uint64_t requests = 0;
  uint64_t failures = 0;
};

struct StoreOptions {
  std::string path;
  // fsync every Apply (group commit shares it among concurrent writers).
  // Only tests and benchmarks that say so turn it off.
  bool sync = true;
  // Environment seam for fault-injection tests; nullptr = the default Env.
  rocksdb::Env* env = nullptr;
  // RocksDB block cache and write buffer sizes.
  uint64_t write_buffer_bytes = 64ull << 20;
  uint64_t block_cache_bytes = 64ull << 20;
  // Fresh deliveries kept in memory for ScanDue, over all integrations, so
  // that what was just written is handed out without reading it back
  // (docs/storage.md). One integration's list stops listing at half of it
  // until the dispatcher has emptied it. 0: every scan reads RocksDB.
  uint64_t fresh_cache_bytes = 32ull << 20;
  // With fresh deliveries on: a delivery that goes to the fresh list is
  // written only to the WAL (a log-only record), not to a memtable; it is
  // rewritten as a Put if it is still queued at the next checkpoint, and
  // restored at open after a crash (docs/storage.md, "Log-only
  // deliveries"). Off: every delivery is a Put. Either way, open restores
  // the log-only records an earlier run left.
  bool log_only_deliveries = true;
  // MaybeCheckpoint checkpoints once RocksDB's WAL archive holds this many
  // bytes (disk, and what open reads after a crash).
  uint64_t log_only_checkpoint_bytes = 128ull << 20;
};

class OutboxStore;

// A set of changes applied atomically by OutboxStore::Apply. Not thread-safe;
// build it on one thread. Sequence numbers are assigned when Enqueue is
// called (and are never reused, even if the Changes is dropped). One
// Changes draws them in blocks per integration, so its deliveries for an
// integration get consecutive numbers.
class Changes {
 public:
  ~Changes();
  Changes(Changes&&) noexcept;
  Changes& operator=(Changes&&) noexcept;

  // A new delivery of `event` for `integration_id`, due at `due_ms`.
  DeliveryKey Enqueue(uint64_t integration_id, std::string_view log_type,
                      std::string_view event, TimeMs due_ms, TimeMs enqueued_ms);
  // Delivered: the key vanishes (SingleDelete).
  void Remove(const DeliveryKey& key);
  // Delivered, all of them: each key vanishes, as with Remove. Runs of at
  // least 8 keys of one integration and due time with consecutive sequence
  // numbers (what one batch's Enqueue calls produce) are removed with one
  // range tombstone instead of a SingleDelete per key; nothing else can lie
  // in such a run's key range. Every key must be queued, each given once.
  void RemoveAll(std::vector<DeliveryKey> keys);
  // A retry: the old key is removed and the delivery is written again under
  // (integration, new_due, seq) with `attempts`. new_due is raised to
  // old due + 1 ms if needed so no key is ever written twice.
  DeliveryKey Reschedule(const Delivery& delivery, TimeMs new_due, uint32_t attempts);
  // Given up: removed from the outbox, kept in `dead` with the reason.
  void MoveToDead(const Delivery& delivery, std::string_view reason, TimeMs now);
  // Replay: a dead delivery goes back to the outbox, due at `due_ms`, with
  // its attempt count reset.
  DeliveryKey Replay(const DeadDelivery& dead, TimeMs due_ms);

  void AddStats(uint64_t integration_id, int64_t minute, uint64_t requests,
                uint64_t failures);
  // Forgets the integration's health statistics (enabling it starts a fresh
  // window).
  void ClearStats(uint64_t integration_id);
  // Removes every delivery of the integration (outbox and dead), its stats
  // and its queued count; its record stays. Operations for it earlier in
  // this batch are void, later ones apply.
  void PurgeDeliveries(uint64_t integration_id);
  // Removes the integration's record.
  void DeleteIntegration(uint64_t integration_id);
  void PutIntegration(uint64_t integration_id, std::string_view record);
  void AddRequestCount(uint64_t company_id, int64_t hour, uint64_t count);
  void PutMeta(std::string_view name, std::string_view value);

  bool empty() const;
  size_t deliveries_enqueued() const;  // Enqueue + Replay calls

 private:
  friend class OutboxStore;
  struct Impl;
  Changes(OutboxStore* store, size_t reserve_bytes);
  std::unique_ptr<Impl> impl_;
};

struct StoreStats {
  uint64_t live_sst_bytes = 0;
  uint64_t wal_bytes = 0;
  uint64_t memtable_bytes = 0;
  // Table-file bytes of the outbox column family alone: deliveries (and
  // removals) that reached the disk. Near 0 while delivery keeps up; it
  // grows with a backlog, or when delivery runs behind a memtable's fill
  // time (docs/performance.md, "2026-12-07, later").
  uint64_t outbox_sst_bytes = 0;
  // RocksDB's estimate of what compaction still has to rewrite.
  uint64_t pending_compaction_bytes = 0;
  // RocksDB stops writes (too many memtables or level-0 files waiting) or
  // slows them to delayed_write_rate bytes/s (0 while it does not).
  bool write_stopped = false;
  uint64_t delayed_write_rate = 0;
};

class OutboxStore {
 public:
  // Opens or creates the store at options.path, rebuilding the in-memory
  // due index (one seek per integration, independent of backlog size).
  static absl::StatusOr<std::unique_ptr<OutboxStore>> Open(const StoreOptions& options);
  ~OutboxStore();

  // reserve_bytes: the batch's expected size (one allocation instead of
  // regrowing while a large ingest fills it); a hint, never a limit.
  Changes NewChanges(size_t reserve_bytes = 0);

  // How the store's record checksums (CRC-32C) are computed on this CPU:
  // "sse4.2" or "portable" (for the startup log).
  static std::string_view ChecksumImplementation();
  // When an applied batch is on disk.
  enum class Sync {
    // Before Apply returns (unless options.sync is off): what an
    // acknowledgement needs.
    kNow,
    // Written to the WAL before Apply returns, so it survives the process
    // being killed, but fsynced only by the next kNow batch or SyncDeferred
    // (the daemon calls it every second), whichever comes first: a power
    // loss in between can undo it. For outcomes that are safe to redo, the
    // dispatcher's: a delivered key that comes back is sent again
    // (at-least-once), a retry or a dead letter is decided again.
    kDeferred,
  };

  // Writes all changes in one WriteBatch. Readers (ScanDue, NextDue) see
  // them once this returns OK.
  absl::Status Apply(Changes changes, Sync sync = Sync::kNow);
  // Fsyncs the WAL if a kDeferred batch was applied since the last call.
  absl::Status SyncDeferred();
  // SyncDeferred calls that found something to sync and synced it.
  uint64_t deferred_syncs() const;

  // Called after each successful Apply that wrote an outbox key, with the
  // integration and the earliest due time written for it. Set once before
  // concurrent use; called on the applying thread, must not block.
  void SetDueListener(std::function<void(uint64_t integration_id, TimeMs due_ms)> fn);

  // Hands `fn` the deliveries of one integration with due_ms <= now, in
  // (due, seq) order, from the integration's cursor, at most `max_items`.
  // Each is handed out once: a later scan continues after it, unless a write
  // below the cursor rewinds it, so the caller skips keys it already holds.
  // Returns the number handed out. On an error fn may already have been
  // handed some (from a capped fresh list): they are the caller's as usual.
  absl::StatusOr<size_t> ScanDue(uint64_t integration_id, TimeMs now, size_t max_items,
                                 absl::FunctionRef<void(Delivery&&)> fn);

  // Earliest due time of the integration's deliveries not yet handed out, or
  // kNoDue. A lower bound: may be earlier than any real entry, never later.
  TimeMs NextDue(uint64_t integration_id) const;
  // Integrations whose NextDue <= now. Walks every integration: for tests
  // and inspection, not for a loop that runs per answer (TakeDueChanges).
  std::vector<uint64_t> DueIntegrations(TimeMs now) const;
  // The integrations whose NextDue may have changed (writes, scans, resets,
  // the seeds of Open) since the previous call, each once. Its one consumer,
  // the dispatcher, re-reads NextDue only for these instead of for every
  // integration on every pump.
  std::vector<uint64_t> TakeDueChanges();
  // Makes every delivery of the integration scannable again from its start
  // (after it was enabled, or the caller dropped what it held).
  void ResetCursor(uint64_t integration_id);

  // Queued deliveries of an integration (exact, persisted).
  uint64_t QueuedCount(uint64_t integration_id) const;
  // Earliest due time over all its queued deliveries (one seek), or kNoDue.
  absl::StatusOr<TimeMs> OldestDue(uint64_t integration_id) const;

  // Removes everything of an integration: outbox, dead, stats, its record
  // and queued counter, in one batch.
  absl::Status PurgeIntegration(uint64_t integration_id);

  absl::Status ForEachIntegration(
      absl::FunctionRef<void(uint64_t id, std::string_view record)> fn) const;
  absl::StatusOr<std::optional<std::string>> GetIntegration(uint64_t id) const;
  // Stats buckets with minute >= since_minute, all integrations.
  absl::Status ForEachStatsBucket(int64_t since_minute,
                                  absl::FunctionRef<void(const StatsBucket&)> fn) const;
  // Deletes stats buckets older than `before_minute` for every integration.
  absl::Status TrimStats(int64_t before_minute);
  absl::Status ForEachDead(uint64_t integration_id, size_t max_items,
                           absl::FunctionRef<void(DeadDelivery&&)> fn) const;
  // Removes one dead delivery by (integration, seq).
  absl::Status RemoveDead(uint64_t integration_id, uint64_t seq);
  // Request counts of one hour, per company.
  absl::Status ForEachRequestCount(
      int64_t hour, absl::FunctionRef<void(uint64_t company, uint64_t n)> fn) const;
  absl::StatusOr<std::optional<std::string>> GetMeta(std::string_view name) const;

  StoreStats Stats() const;
  // Forces a checkpoint, a flush of memtables and the WAL sync (used at
  // shutdown and over the disk quota).
  absl::Status Flush();
  // Rewrites log-only deliveries still queued as Puts, then deletes the
  // WAL files RocksDB had archived before (docs/storage.md, "Log-only
  // deliveries"): those that may lie in the archived files (kArchived), or
  // all of them (kAll: a dropped fresh list, a cursor reset, shutdown).
  // Serialized; safe to call from any thread.
  enum class CheckpointScope { kArchived, kAll };
  absl::Status Checkpoint(CheckpointScope scope = CheckpointScope::kAll);
  // Checkpoints when one was asked for (a fresh list was dropped: kAll) or
  // when the WAL archive holds StoreOptions::log_only_checkpoint_bytes
  // (kArchived). The daemon calls it every second; ScanDue also runs a
  // requested one first, so that what a dropped list held is found.
  absl::Status MaybeCheckpoint();
  // Log-only deliveries written and not yet removed or rewritten, those
  // restored as Puts by the last Open, and those written since Open
  // (metrics, tests).
  uint64_t LogOnlyPending() const;
  uint64_t LogOnlyRestoredAtOpen() const;
  uint64_t LogOnlyWritten() const;
  // Compacts the outbox column family: a delivered entry and its
  // SingleDelete in different table files both go, freeing their space.
  // Blocks until done (used over the disk quota, after a Flush).
  absl::Status CompactOutbox();
  // After a failed write (a full disk, an I/O error) RocksDB keeps refusing
  // writes until it is told to resume. Call periodically: returns true when
  // it resumed (writes work again), false when no write had failed, and the
  // error while it still cannot (e.g. the disk is still full).
  absl::StatusOr<bool> Recover();

  // Bytes of fresh deliveries held in memory for ScanDue (at most
  // StoreOptions::fresh_cache_bytes, plus one write's worth).
  uint64_t FreshCacheBytes() const;
  // Since Open: lists capped at half the cap (the dispatcher fell behind;
  // later deliveries went to RocksDB until the list was emptied), and
  // lists dropped with deliveries in them (the whole cap, a failed write,
  // a reset or purge: their log-only deliveries are rewritten as Puts).
  struct FreshListCounts {
    uint64_t capped = 0;
    uint64_t dropped = 0;
  };
  FreshListCounts FreshLists() const;

  // For tests: internal keys skipped by the last ScanDue on this thread
  // (RocksDB perf context), to prove tombstones do not slow the scan.
  static uint64_t LastScanSkippedInternalKeys();

 private:
  friend class Changes;
  struct Impl;
  absl::Status CheckpointLocked(CheckpointScope scope);
  explicit OutboxStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace outboxd
