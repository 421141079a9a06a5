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

// Parses a WAL file handed over in pieces, in order: every piece but the
// last a whole number of 32 KiB blocks (a record's fragments never cross a
// block, so a block-aligned piece ends between fragments).
class WalRecordParser {
 public:
  static constexpr size_t kBlockSize = 32768;

  // Parses `blocks`, handing `fn` each record it completes; the view lives
  // until `fn` returns. Fails on a record type outboxd never enables
  // (recycled logs, WAL compression). After a torn or corrupt record it
  // ignores everything (done() is true).
  absl::Status Feed(std::string_view blocks, absl::FunctionRef<void(std::string_view)> fn);
  bool done() const { return done_; }
  // The file ended: what was read.
  WalReadResult Finish();

 private:
  WalReadResult result_;
  std::string scratch_;  // a record being assembled from fragments
  bool in_fragmented_ = false;
  bool done_ = false;
  uint64_t offset_ = 0;  // of the next piece in the file
};

// Hands `fn` every whole record of the file at `path`, in order, reading
// it a megabyte at a time. Fails only when the file cannot be read or uses
// a record type outboxd never enables.
absl::StatusOr<WalReadResult> ReadWalRecords(
    rocksdb::Env* env, const std::string& path,
    absl::FunctionRef<void(std::string_view)> fn);

// The same over bytes in memory (tests).
absl::StatusOr<WalReadResult> ParseWalRecords(
    std::string_view file, absl::FunctionRef<void(std::string_view)> fn);

}  // namespace outboxd::store_internal
