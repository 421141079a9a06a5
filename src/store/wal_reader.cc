#include "store/wal_reader.h"

#include <cstring>
#include <memory>
#include <string>

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

absl::Status WalRecordParser::Feed(std::string_view file,
                                   absl::FunctionRef<void(std::string_view)> fn) {
  size_t pos = 0;
  while (!done_ && pos < file.size()) {
    const size_t left_in_block = kBlockSize - pos % kBlockSize;
    if (left_in_block < kHeaderSize) {  // trailer padding
      pos += left_in_block;
      continue;
    }
    if (file.size() - pos < kHeaderSize) {
      result_.clean_end = false;  // a header cut by the end of the file
      done_ = true;
      break;
    }
    const char* h = file.data() + pos;
    const uint32_t length =
        static_cast<uint8_t>(h[4]) | (static_cast<uint8_t>(h[5]) << 8);
    const uint8_t type = static_cast<uint8_t>(h[6]);
    if (type == kZeroType && length == 0) {
      // Preallocated, never written space (the end of what was written,
      // then only zeros follow), or RocksDB's padding of a block: either
      // way nothing more in this block.
      pos += left_in_block;
      continue;
    }
    if (kHeaderSize + length > left_in_block || file.size() - pos - kHeaderSize < length) {
      result_.clean_end = false;
      done_ = true;
      break;
    }
    const std::string_view payload(h + kHeaderSize, length);
    const uint32_t expected = Unmask(DecodeFixed32(h));
    const uint32_t actual =
        Crc32cExtend(Crc32cExtend(0, h + 6, 1), payload.data(), payload.size());
    if (expected != actual) {
      result_.clean_end = false;
      done_ = true;
      break;
    }
    if (type > kLastType) {
      done_ = true;
      return absl::FailedPreconditionError(
          "WAL record type " + std::to_string(type) +
          " (recycled logs or WAL compression, which outboxd never enables)");
    }
    pos += kHeaderSize + length;
    switch (type) {
      case kFullType:
        in_fragmented_ = false;
        fn(payload);
        ++result_.records;
        result_.bytes_used = offset_ + pos;
        break;
      case kFirstType:
        scratch_.assign(payload);
        in_fragmented_ = true;
        break;
      case kMiddleType:
        if (in_fragmented_) scratch_.append(payload);
        break;
      case kLastType:
        if (in_fragmented_) {
          scratch_.append(payload);
          fn(scratch_);
          ++result_.records;
          result_.bytes_used = offset_ + pos;
        }
        in_fragmented_ = false;
        break;
      default:
        break;
    }
  }
  offset_ += file.size();
  return absl::OkStatus();
}

WalReadResult WalRecordParser::Finish() {
  if (in_fragmented_) result_.clean_end = false;
  return result_;
}

absl::StatusOr<WalReadResult> ParseWalRecords(
    std::string_view file, absl::FunctionRef<void(std::string_view)> fn) {
  WalRecordParser parser;
  if (absl::Status s = parser.Feed(file, fn); !s.ok()) return s;
  return parser.Finish();
}

absl::StatusOr<WalReadResult> ReadWalRecords(
    rocksdb::Env* env, const std::string& path,
    absl::FunctionRef<void(std::string_view)> fn) {
  auto error = [&path](const rocksdb::Status& s) {
    return absl::DataLossError("read WAL file " + path + ": " + s.ToString());
  };
  std::unique_ptr<rocksdb::SequentialFile> file;
  if (rocksdb::Status s = env->NewSequentialFile(path, &file, rocksdb::EnvOptions());
      !s.ok()) {
    return error(s);
  }
  // Whole blocks at a time (WalRecordParser): 1 MiB, reused. Reading the
  // file whole cost more than parsing it (page faults on a buffer the
  // size of the file).
  constexpr size_t kPiece = 32 * WalRecordParser::kBlockSize;
  std::unique_ptr<char[]> buffer(new char[kPiece]);
  WalRecordParser parser;
  bool eof = false;
  while (!eof && !parser.done()) {
    size_t filled = 0;
    while (filled < kPiece) {
      rocksdb::Slice got;
      if (rocksdb::Status s = file->Read(kPiece - filled, &got, buffer.get() + filled);
          !s.ok()) {
        return error(s);
      }
      if (got.empty()) {
        eof = true;
        break;
      }
      // Read may hand back its own memory instead of the scratch.
      if (got.data() != buffer.get() + filled) {
        std::memmove(buffer.get() + filled, got.data(), got.size());
      }
      filled += got.size();
    }
    if (absl::Status s = parser.Feed(std::string_view(buffer.get(), filled), fn); !s.ok()) {
      return s;
    }
  }
  return parser.Finish();
}

}  // namespace outboxd::store_internal
