#include "store/wal_reader.h"

#include "store/crc32c.h"

namespace outboxd::store_internal {

namespace {

constexpr size_t kBlockSize = 32768;
constexpr size_t kHeaderSize = 7;
enum RecordType : uint8_t {
  kZeroType = 0,
  kFullType = 1,
  kFirstType = 2,
  kMiddleType = 3,
  kLastType = 4
};
constexpr uint32_t kMaskDelta = 0xa282ead8u;

uint32_t DecodeFixed32(const char* p) {
  return static_cast<uint32_t>(static_cast<uint8_t>(p[0])) |
         (static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 8) |
         (static_cast<uint32_t>(static_cast<uint8_t>(p[2])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(p[3])) << 24);
}

uint32_t Unmask(uint32_t masked) {
  const uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace

absl::StatusOr<WalReadResult> ParseWalRecords(
    std::string_view file, absl::FunctionRef<void(std::string_view)> fn) {
  WalReadResult result;
  std::string scratch;  // a record being assembled from fragments
  bool in_fragmented = false;
  size_t pos = 0;
  while (pos < file.size()) {
    const size_t left_in_block = kBlockSize - pos % kBlockSize;
    if (left_in_block < kHeaderSize) {  // trailer padding
      pos += left_in_block;
      continue;
    }
    if (file.size() - pos < kHeaderSize) {
      result.clean_end = false;  // a header cut by the end of the file
      break;
    }
    const char* h = file.data() + pos;
    const uint32_t length =
        static_cast<uint8_t>(h[4]) | (static_cast<uint8_t>(h[5]) << 8);
    const uint8_t type = static_cast<uint8_t>(h[6]);
    if (type == kZeroType && length == 0) {
      // Preallocated, never written space: the end of what was written.
      // RocksDB also pads a block this way; only zeros may follow.
      const size_t rest = file.find_first_not_of('\0', pos);
      if (rest == std::string_view::npos) break;
      pos += left_in_block;
      continue;
    }
    if (kHeaderSize + length > left_in_block ||
        file.size() - pos - kHeaderSize < length) {
      result.clean_end = false;
      break;
    }
    const std::string_view payload(h + kHeaderSize, length);
    const uint32_t expected = Unmask(DecodeFixed32(h));
    const uint32_t actual =
        Crc32cExtend(Crc32cExtend(0, h + 6, 1), payload.data(), payload.size());
    if (expected != actual) {
      result.clean_end = false;
      break;
    }
    if (type > kLastType) {
      return absl::FailedPreconditionError(
          "WAL record type " + std::to_string(type) +
          " (recycled logs or WAL compression, which outboxd never enables)");
    }
    pos += kHeaderSize + length;
    switch (type) {
      case kFullType:
        in_fragmented = false;
        fn(payload);
        ++result.records;
        result.bytes_used = pos;
        break;
      case kFirstType:
        scratch.assign(payload);
        in_fragmented = true;
        break;
      case kMiddleType:
        if (in_fragmented) scratch.append(payload);
        break;
      case kLastType:
        if (in_fragmented) {
          scratch.append(payload);
          fn(scratch);
          ++result.records;
          result.bytes_used = pos;
        }
        in_fragmented = false;
        break;
      default:
        break;
    }
  }
  if (in_fragmented) result.clean_end = false;
  return result;
}

absl::StatusOr<WalReadResult> ReadWalRecords(
    rocksdb::Env* env, const std::string& path,
    absl::FunctionRef<void(std::string_view)> fn) {
  std::string bytes;
  rocksdb::Status s = rocksdb::ReadFileToString(env, path, &bytes);
  if (!s.ok()) return absl::DataLossError("read WAL file " + path + ": " + s.ToString());
  return ParseWalRecords(bytes, fn);
}

}  // namespace outboxd::store_internal
