// The WAL reader against files RocksDB itself wrote: whole and fragmented
// records, a torn tail, a flipped byte.
#include "store/wal_reader.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "store_test_util.h"

namespace outboxd::store_internal {
namespace {

namespace fs = std::filesystem;

class LogDataCollector : public rocksdb::WriteBatch::Handler {
 public:
  std::vector<std::string> blobs;
  void LogData(const rocksdb::Slice& blob) override { blobs.push_back(blob.ToString()); }
  rocksdb::Status PutCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
    ++puts;
    return rocksdb::Status::OK();
  }
  int puts = 0;
};

// Writes `blobs` as one WAL-only record (and one Put) per batch, without
// closing cleanly, and returns the path of the only WAL file.
std::string WriteWal(const std::string& dir, const std::vector<std::string>& blobs) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  EXPECT_TRUE(rocksdb::DB::Open(options, dir, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  for (size_t i = 0; i < blobs.size(); ++i) {
    rocksdb::WriteBatch batch;
    EXPECT_TRUE(batch.PutLogData(blobs[i]).ok());
    EXPECT_TRUE(batch.Put("k" + std::to_string(i), "v").ok());
    EXPECT_TRUE(db->Write(sync, &batch).ok());
  }
  rocksdb::VectorLogPtr files;
  EXPECT_TRUE(db->GetSortedWalFiles(files).ok());
  EXPECT_EQ(files.size(), 1u);
  std::string path = files.empty() ? "" : dir + files.back()->PathName();
  // Copied before the DB closes (closing flushes and archives or deletes it).
  std::string copy = dir + "/../wal-copy.log";
  fs::copy_file(path, copy, fs::copy_options::overwrite_existing);
  return copy;
}

std::vector<std::string> Blobs() {
  std::vector<std::string> blobs;
  for (int i = 0; i < 40; ++i) {
    // Small records, and ones that span two or three 32 KiB blocks.
    const size_t size = i % 7 == 3 || i == 39 ? 70'000 + i : 500 + 13 * i;
    blobs.push_back(std::string(size, static_cast<char>('a' + i % 26)) +
                    std::to_string(i));
  }
  return blobs;
}

absl::StatusOr<WalReadResult> Collect(const std::string& path, LogDataCollector* out) {
  return ReadWalRecords(rocksdb::Env::Default(), path, [out](std::string_view record) {
    rocksdb::WriteBatch batch{std::string(record)};
    EXPECT_TRUE(batch.Iterate(out).ok());
  });
}

TEST(WalReaderTest, ReadsEveryRecordRocksDbWroteIncludingFragmentedOnes) {
  store_test::ScratchDir dir;
  const std::vector<std::string> blobs = Blobs();
  const std::string wal = WriteWal(dir.path() + "/db", blobs);
  LogDataCollector got;
  absl::StatusOr<WalReadResult> r = Collect(wal, &got);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->clean_end);
  EXPECT_EQ(r->records, blobs.size());
  EXPECT_EQ(r->bytes_used, fs::file_size(wal));
  EXPECT_EQ(got.blobs, blobs);
  EXPECT_EQ(got.puts, static_cast<int>(blobs.size()));
}

TEST(WalReaderTest, StopsAtATornTail) {
  store_test::ScratchDir dir;
  const std::vector<std::string> blobs = Blobs();
  const std::string wal = WriteWal(dir.path() + "/db", blobs);
  // Cut inside the last record (70,039 bytes, fragmented over blocks).
  const uintmax_t size = fs::file_size(wal);
  fs::resize_file(wal, size - 40'000);
  LogDataCollector got;
  absl::StatusOr<WalReadResult> r = Collect(wal, &got);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->clean_end);
  ASSERT_EQ(got.blobs.size(), blobs.size() - 1);
  EXPECT_EQ(got.blobs, std::vector<std::string>(blobs.begin(), blobs.end() - 1));
}

TEST(WalReaderTest, StopsAtARecordWhoseChecksumFails) {
  store_test::ScratchDir dir;
  const std::vector<std::string> blobs = Blobs();
  const std::string wal = WriteWal(dir.path() + "/db", blobs);
  std::string bytes;
  {
    std::ifstream in(wal, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // Flip a byte inside the payload of the 6th record (blob 5).
  const size_t at = bytes.find(std::string(500 + 13 * 5, 'f'));
  ASSERT_NE(at, std::string::npos);
  bytes[at + 10] ^= 0x01;
  LogDataCollector got;
  absl::StatusOr<WalReadResult> r =
      ParseWalRecords(bytes, [&got](std::string_view record) {
        rocksdb::WriteBatch batch{std::string(record)};
        EXPECT_TRUE(batch.Iterate(&got).ok());
      });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->clean_end);
  EXPECT_EQ(got.blobs, std::vector<std::string>(blobs.begin(), blobs.begin() + 5));
}

// A file of several megabytes is read a megabyte at a time: records whose
// fragments straddle a piece's end, and a torn tail past the first piece,
// come out as from the whole file in one piece; so do pieces of one block.
TEST(WalReaderTest, AFileReadInPiecesGivesWhatTheWholeFileGives) {
  store_test::ScratchDir dir;
  std::vector<std::string> blobs;
  for (int i = 0; i < 60; ++i) {
    blobs.push_back(std::string(70'000 + 1'001 * i, static_cast<char>('a' + i % 26)) +
                    std::to_string(i));
  }
  const std::string wal = WriteWal(dir.path() + "/db", blobs);
  ASSERT_GT(fs::file_size(wal), 4u << 20);
  LogDataCollector streamed;
  absl::StatusOr<WalReadResult> r = Collect(wal, &streamed);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->clean_end);
  EXPECT_EQ(r->bytes_used, fs::file_size(wal));
  EXPECT_EQ(streamed.blobs, blobs);

  std::string bytes;
  {
    std::ifstream in(wal, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  LogDataCollector by_block;
  auto collect = [&by_block](std::string_view record) {
    rocksdb::WriteBatch batch{std::string(record)};
    EXPECT_TRUE(batch.Iterate(&by_block).ok());
  };
  WalRecordParser parser;
  for (size_t at = 0; at < bytes.size(); at += WalRecordParser::kBlockSize) {
    ASSERT_TRUE(
        parser.Feed(std::string_view(bytes).substr(at, WalRecordParser::kBlockSize), collect)
            .ok());
  }
  const WalReadResult whole = parser.Finish();
  EXPECT_TRUE(whole.clean_end);
  EXPECT_EQ(whole.records, r->records);
  EXPECT_EQ(whole.bytes_used, r->bytes_used);
  EXPECT_EQ(by_block.blobs, blobs);

  // Torn 2.5 MiB in: the records before the cut, and no more.
  const uintmax_t cut = (5u << 20) / 2;
  fs::resize_file(wal, cut);
  LogDataCollector torn;
  r = Collect(wal, &torn);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->clean_end);
  EXPECT_LE(r->bytes_used, cut);
  ASSERT_GT(torn.blobs.size(), 20u);
  ASSERT_LT(torn.blobs.size(), blobs.size());
  EXPECT_EQ(torn.blobs,
            std::vector<std::string>(blobs.begin(), blobs.begin() + torn.blobs.size()));
}

TEST(WalReaderTest, AnEmptyOrMissingFile) {
  store_test::ScratchDir dir;
  const std::string empty = dir.path() + "/000001.log";
  std::ofstream(empty).close();
  absl::StatusOr<WalReadResult> r =
      ReadWalRecords(rocksdb::Env::Default(), empty,
                     [](std::string_view) { ADD_FAILURE() << "no record expected"; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->records, 0u);
  EXPECT_TRUE(r->clean_end);
  EXPECT_FALSE(ReadWalRecords(rocksdb::Env::Default(), dir.path() + "/missing.log",
                              [](std::string_view) {})
                   .ok());
}

}  // namespace
}  // namespace outboxd::store_internal
