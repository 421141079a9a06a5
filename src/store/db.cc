#include "store/db.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rocksdb/filter_policy.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/table_properties_collectors.h"
#include "outboxd/log.h"
#include "store/crc32c.h"
#include "store/keys.h"
#include "store/merge_operators.h"
#include "store/rocks_logger.h"
#include "store/status.h"

namespace outboxd::store_internal {

const std::array<const char*, kCfCount> kCfNames = {
    "default",  // rocksdb::kDefaultColumnFamilyName
    "outbox",  "dead", "stats", "counters", "integrations", "meta"};

namespace {

// Column families other than outbox and dead stay small.
constexpr uint64_t kSmallWriteBuffer = 4ull << 20;

// The memtable insert hint of the outbox: one skip-list position kept per
// integration (the 8-byte prefix of its keys), so that a delivery, due now
// and numbered after the previous one, is inserted next to where the last
// one went instead of searched from the top of the list. Only whole outbox
// keys are in its domain: RocksDB 7.8 shares the hint map between the point
// and the range-tombstone skip lists, and a hint taken from one and used in
// the other corrupts the insert (it asserts in InlineSkipList::Insert); the
// range tombstones of a purge start at the 8-byte IdKey and stay out
// (StoreTest.PurgeDeliveriesInABatchVoidsEarlierOperationsOnly aborts when
// they are let in).
class IntegrationPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "outboxd.IntegrationPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), kIdKeySize);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() == kOutboxKeySize;
  }
};

rocksdb::DBOptions MakeDbOptions(const StoreOptions& options) {
  rocksdb::DBOptions db;
  db.create_if_missing = true;
  db.create_missing_column_families = true;
  db.paranoid_checks = true;
  // A torn tail (an unacknowledged write cut by a power loss) is dropped;
  // every acknowledged write was synced before it. See docs/storage.md.
  db.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db.max_background_jobs = 2;
  // With seven column families a rarely written one (meta, integrations)
  // would pin old WAL files forever; past this size RocksDB flushes it.
  db.max_total_wal_size = 4 * options.write_buffer_bytes;
  db.manual_wal_flush = false;
  db.avoid_flush_during_shutdown = false;
  db.bytes_per_sync = 1ull << 20;
  // Log-only deliveries live in WAL files only: RocksDB moves the files it
  // no longer needs to archive/ instead of deleting them, and never purges
  // the archive (no size limit, a TTL of ten years); the store's checkpoint
  // deletes archived files once their log-only records are rewritten or
  // removed (docs/storage.md, "Log-only deliveries"). Also with log-only
  // deliveries off: a WAL file that an earlier run left, made obsolete at
  // this open, must be archived for the store to read it, not deleted.
  db.WAL_ttl_seconds = 10ull * 365 * 24 * 3600;
  db.WAL_size_limit_MB = 0;
  // The write group's leader inserts every batch of the group itself. RocksDB
  // ignores the outbox's insert hint (below) for concurrent inserts, and with
  // the hint the serial insert is the cheaper one (docs/performance.md).
  db.allow_concurrent_memtable_write = false;
  // RocksDB's info log goes to outboxd's log, never to a LOG file on the
  // data disk (a full disk must fail a write, not abort in the logger).
  db.info_log = NewForwardingLogger();
  if (options.env != nullptr) db.env = options.env;
  return db;
}

rocksdb::ColumnFamilyOptions BaseCfOptions(const std::shared_ptr<rocksdb::Cache>& cache,
                                           bool point_lookups, uint64_t write_buffer) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.format_version = 5;
  if (point_lookups) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  }
  rocksdb::ColumnFamilyOptions cf;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.compaction_style = rocksdb::kCompactionStyleLevel;
  cf.level_compaction_dynamic_level_bytes = true;
  cf.write_buffer_size = write_buffer;
  return cf;
}

std::vector<rocksdb::ColumnFamilyDescriptor> Descriptors(
    const StoreOptions& options, const std::shared_ptr<rocksdb::Cache>& cache) {
  const uint64_t big = options.write_buffer_bytes;
  const uint64_t small = std::min(big, kSmallWriteBuffer);
  std::vector<rocksdb::ColumnFamilyOptions> cfs(kCfCount);
  cfs[kDefaultCf] = BaseCfOptions(cache, true, small);
  cfs[kOutboxCf] = BaseCfOptions(cache, false, big);
  cfs[kOutboxCf].memtable_insert_with_hint_prefix_extractor =
      std::make_shared<IntegrationPrefix>();
  cfs[kOutboxCf].table_properties_collector_factories.push_back(
      rocksdb::NewCompactOnDeletionCollectorFactory(kDeletionWindow, kDeletionTrigger,
                                                    kDeletionRatio));
  cfs[kDeadCf] = BaseCfOptions(cache, false, small);
  cfs[kStatsCf] = BaseCfOptions(cache, false, small);
  cfs[kStatsCf].merge_operator = NewFixed64PairAddOperator();
  cfs[kCountersCf] = BaseCfOptions(cache, true, small);
  cfs[kCountersCf].merge_operator = NewFixed64AddOperator();
  cfs[kIntegrationsCf] = BaseCfOptions(cache, true, small);
  cfs[kMetaCf] = BaseCfOptions(cache, true, small);
  cfs[kMetaCf].merge_operator = NewQueuedCountOperator();
  std::vector<rocksdb::ColumnFamilyDescriptor> out;
  for (size_t i = 0; i < kCfCount; ++i) out.emplace_back(kCfNames[i], cfs[i]);
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Db>> Db::Open(const StoreOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("store path is empty");
  // RocksDB would create it too, after logging at error level that it was
  // missing: a fresh data directory is not an error.
  std::error_code ec;
  if (options.env == nullptr) std::filesystem::create_directories(options.path, ec);
  if (ec) return absl::UnavailableError("create " + options.path + ": " + ec.message());
  std::unique_ptr<Db> db(new Db());
  db->block_cache_ = rocksdb::NewLRUCache(options.block_cache_bytes);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(MakeDbOptions(options), options.path,
                        Descriptors(options, db->block_cache_), &handles, &raw);
  if (!s.ok()) return ToStatus(s, "open " + options.path);
  db->db_.reset(raw);
  std::copy(handles.begin(), handles.end(), db->handles_.begin());
  // Also what links store/crc32c.cc, and with it RocksDB's CRC-32C.
  Log(LogLevel::kDebug, "rocksdb opened",
      {{"path", options.path}, {"crc32c", Crc32cImplementation()}});
  return db;
}

BoundedIterator::BoundedIterator(const Db& db, Cf cf, std::string lower,
                                 std::string upper)
    : lower_(std::move(lower)),
      upper_(std::move(upper)),
      lower_slice_(lower_),
      upper_slice_(upper_) {
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_slice_;
  ro.iterate_upper_bound = &upper_slice_;
  it_.reset(db.db()->NewIterator(ro, db.cf(cf)));
}

Db::~Db() {
  if (db_ == nullptr) return;
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    if (h != nullptr) db_->DestroyColumnFamilyHandle(h);
  }
  db_->Close();
}

}  // namespace outboxd::store_internal
