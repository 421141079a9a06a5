// The one place rocksdb::Status becomes absl::Status.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace outboxd::store_internal {

// Maps the RocksDB code (Corruption -> DataLoss, NoSpace -> ResourceExhausted,
// Busy/TryAgain/TimedOut/IOError -> Unavailable, ...) and keeps RocksDB's
// message after `context`, e.g. "apply: IO error: No space left on device".
absl::Status ToStatus(const rocksdb::Status& s, std::string_view context);

// A value or key that does not decode: the store is damaged.
absl::Status CorruptionError(std::string_view context, std::string_view what);

}  // namespace outboxd::store_internal
