// Merge operators: counters are merged ("add"), never read-modify-written, so
// concurrent batches never lose an increment and a write needs no read.
#pragma once

#include <memory>

#include "rocksdb/merge_operator.h"

namespace outboxd::store_internal {

// counters: one fixed64 (little-endian) per key; operands are added
// (two's complement, so it also adds signed deltas).
std::shared_ptr<rocksdb::MergeOperator> NewFixed64AddOperator();

// meta: keys with the "q/" prefix hold a signed fixed64 count and are merged
// by addition; any other meta key is written with plain puts, and a merge on
// one of them fails (RocksDB reports Corruption).
std::shared_ptr<rocksdb::MergeOperator> NewQueuedCountOperator();

// stats: two fixed64 (requests, failures), added pairwise.
std::shared_ptr<rocksdb::MergeOperator> NewFixed64PairAddOperator();

}  // namespace outboxd::store_internal
