// The shared state behind OutboxStore and Changes (internal).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "outboxd/store.h"
#include "rocksdb/options.h"
#include "store/db.h"
#include "store/due_index.h"
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
};

}  // namespace outboxd::store_internal

namespace outboxd {

struct OutboxStore::Impl {
  store_internal::StoreCore core;
};

}  // namespace outboxd
