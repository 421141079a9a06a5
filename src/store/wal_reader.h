// Reads the records of a RocksDB write-ahead log file (internal).
//
// The format (RocksDB's db/log_format.h, unchanged since 2011 for the
// non-recyclable record types): the file is a sequence of 32 KiB blocks;
// a record is a 7-byte header (masked CRC-32C of type and payload,
// little-endian 16-bit length, type) and its payload; a record that does
// not fit in a block's rest is cut into FIRST, MIDDLE... LAST fragments;
// a block's last 0-6 bytes are padding. Each whole record is one
// WriteBatch's bytes (rocksdb::WriteBatch(std::string) parses them).
// outboxd reads the WALs itself only for its log-only deliveries
// (docs/storage.md, "Log-only deliveries").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "rocksdb/env.h"

namespace outboxd::store_internal {

struct WalReadResult {
  uint64_t records = 0;
  // False when the file ended in a torn or corrupt record (a crash's
  // unfinished write): reading stopped there, as RocksDB's point-in-time
  // recovery stops replaying.
  bool clean_end = true;
  uint64_t bytes_used = 0;  // offset just past the last whole record
};

// Hands `fn` every whole record of the file at `path`, in order. Fails only
// when the file cannot be read or uses a record type outboxd never enables
// (recycled logs, WAL compression).
absl::StatusOr<WalReadResult> ReadWalRecords(
    rocksdb::Env* env, const std::string& path,
    absl::FunctionRef<void(std::string_view)> fn);

// The same over bytes in memory (tests).
absl::StatusOr<WalReadResult> ParseWalRecords(
    std::string_view file, absl::FunctionRef<void(std::string_view)> fn);

}  // namespace outboxd::store_internal
