// The shared state behind OutboxStore and Changes (internal).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "outboxd/store.h"
#include "rocksdb/options.h"
#include "store/db.h"
#include "store/due_index.h"
#include "store/log_only.h"
#include "store/sequence.h"

namespace outboxd::store_internal {

struct StoreCore {
  StoreOptions options;
  std::unique_ptr<Db> db;
  std::unique_ptr<SequenceAllocator> seq;
  DueIndex due_index;
  // Set once before concurrent use (contract of SetDueListener).
  std::function<void(uint64_t, TimeMs)> due_listener;
  rocksdb::WriteOptions write_options;  // sync = options.sync
  rocksdb::WriteOptions synced;         // always sync (purge, leases)
  rocksdb::WriteOptions deferred;       // never sync (Apply's Sync::kDeferred)
  // Set by a kDeferred Apply; SyncDeferred clears it and syncs the WAL.
  std::atomic<bool> deferred_unsynced{false};
  std::atomic<uint64_t> deferred_syncs{0};
  // Set when a write failed: RocksDB may then refuse every write until
  // Resume (see OutboxStore::Recover).
  std::atomic<bool> write_failed{false};
  // Log-only deliveries (StoreOptions::log_only_deliveries).
  bool log_only_enabled = false;
  LogOnlySet log_only;
  Mutex checkpoint_mu;             // one checkpoint at a time
  uint64_t log_only_restored = 0;  // by Open
  std::atomic<uint64_t> log_only_written{0};
};

// After the store opened: rewrites as Puts the log-only deliveries that the
// WAL files (live and archived) hold and nothing removed, then deletes the
// archived files (log_only_store.cc).
absl::Status RestoreLogOnly(StoreCore& core);
// Deletes an archived WAL file of `size` bytes, `gently` (in steps, see
// log_only_store.cc) when it is on the local file system. Logs a failure.
bool DeleteArchivedWal(const StoreCore& core, const std::string& path, uint64_t size,
                       bool gently);

}  // namespace outboxd::store_internal

namespace outboxd {

struct OutboxStore::Impl {
  store_internal::StoreCore core;
};

}  // namespace outboxd
