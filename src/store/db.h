// Opening the RocksDB instance behind the store: column families, their
// options (docs/storage.md says why each is set) and handle ownership.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "outboxd/store.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"

namespace outboxd::store_internal {

enum Cf : size_t {
  kDefaultCf = 0,
  kOutboxCf,
  kDeadCf,
  kStatsCf,
  kCountersCf,
  kIntegrationsCf,
  kMetaCf,
  kCfCount,
};

// Name of each column family on disk, indexed by Cf.
extern const std::array<const char*, kCfCount> kCfNames;

// Compaction-on-deletion for the outbox: an SST with >= kDeletionTrigger
// tombstones in any kDeletionWindow consecutive entries (or a tombstone ratio
// >= kDeletionRatio) is marked for compaction, so delivered keys vanish.
inline constexpr size_t kDeletionWindow = 10000;
inline constexpr size_t kDeletionTrigger = 5000;
inline constexpr double kDeletionRatio = 0.5;

class Db {
 public:
  static absl::StatusOr<std::unique_ptr<Db>> Open(const StoreOptions& options);
  // Closes the DB. What is only in memtables is in the WAL and replayed at
  // the next open.
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return handles_[c]; }
  const std::array<rocksdb::ColumnFamilyHandle*, kCfCount>& handles() const {
    return handles_;
  }

 private:
  Db() = default;

  std::shared_ptr<rocksdb::Cache> block_cache_;
  std::unique_ptr<rocksdb::DB> db_;
  std::array<rocksdb::ColumnFamilyHandle*, kCfCount> handles_{};
};

// An iterator over [lower, upper) of one column family that owns its bounds
// (ReadOptions only points at them): iterate_lower_bound and
// iterate_upper_bound are set, so it never steps over keys (or tombstones)
// outside the range. No snapshot outlives it. Not movable.
class BoundedIterator {
 public:
  BoundedIterator(const Db& db, Cf cf, std::string lower, std::string upper);
  BoundedIterator(const BoundedIterator&) = delete;
  BoundedIterator& operator=(const BoundedIterator&) = delete;

  // Positions at the first key >= lower.
  void SeekToLower() { it_->Seek(lower_slice_); }
  rocksdb::Iterator* operator->() const { return it_.get(); }

 private:
  const std::string lower_;
  const std::string upper_;
  const rocksdb::Slice lower_slice_;
  const rocksdb::Slice upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

}  // namespace outboxd::store_internal
