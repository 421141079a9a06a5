#include "destinations/gzip.h"

#include <zlib.h>

#include <cstdint>
#include <random>
#include <string>

#include "destinations/sentinel_dcr.h"
#include "gtest/gtest.h"

namespace outboxd {
namespace {

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

std::string JsonRecords(size_t count) {
  std::string out = "[";
  for (size_t i = 0; i < count; ++i) {
    if (i != 0) out += ",";
    out += R"({"id":"evt-)" + std::to_string(i) +
           R"(","company_id":42,"event_type":"hit","occurred_at":"2023-11-14T22:13:20Z"})";
  }
  return out + "]";
}

TEST(GzipTest, DecompressesPythonsGzip) {
  // python3 -c "import gzip,sys;sys.stdout.buffer.write(gzip.compress(b'[{\"a\":1}]',
  //   mtime=0))" | xxd -i
  const unsigned char kGzip[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03,
                                 0x8b, 0xae, 0x56, 0x4a, 0x54, 0xb2, 0x32, 0xac, 0x8d, 0x05,
                                 0x00, 0x7d, 0x73, 0xcb, 0xf2, 0x09, 0x00, 0x00, 0x00};
  absl::StatusOr<std::string> data =
      GzipDecompress(std::string_view(reinterpret_cast<const char*>(kGzip), sizeof(kGzip)), 100);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, R"([{"a":1}])");
}

TEST(GzipTest, WritesAGzipHeader) {
  absl::StatusOr<std::string> gz = GzipCompress("x");
  ASSERT_TRUE(gz.ok());
  ASSERT_GE(gz->size(), 18u);
  // RFC 1952: ID1 ID2 CM=8 (deflate).
  EXPECT_EQ(static_cast<unsigned char>((*gz)[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>((*gz)[1]), 0x8b);
  EXPECT_EQ((*gz)[2], 8);
  // ISIZE, the last four bytes: the input length, little-endian.
  EXPECT_EQ((*gz)[gz->size() - 4], 1);
}

TEST(GzipTest, RoundTripsAtEveryLevel) {
  const std::string inputs[] = {"", "a", JsonRecords(1000), RandomBytes(300'000, 7)};
  for (int level : {0, 1, 6, 9, -1}) {
    for (const std::string& input : inputs) {
      absl::StatusOr<std::string> gz = GzipCompress(input, level);
      ASSERT_TRUE(gz.ok()) << gz.status();
      EXPECT_LE(gz->size(), GzipBound(input.size()));
      absl::StatusOr<std::string> back = GzipDecompress(*gz, input.size());
      ASSERT_TRUE(back.ok()) << back.status() << " level " << level;
      EXPECT_EQ(*back, input) << "level " << level << " size " << input.size();
    }
  }
}

TEST(GzipTest, CompressesJson) {
  const std::string json = JsonRecords(2000);
  absl::StatusOr<std::string> gz = GzipCompress(json, 1);
  ASSERT_TRUE(gz.ok());
  EXPECT_LT(gz->size() * 5, json.size()) << gz->size() << " of " << json.size();
}

TEST(GzipTest, BoundMatchesZlib) {
  for (uint64_t n : {0ull, 1ull, 1000ull, 65'535ull, 999'000ull, 1'000'000ull, 30'000'000ull}) {
    z_stream zs{};
    ASSERT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    const uLong zlib_bound = deflateBound(&zs, n);
    deflateEnd(&zs);
    EXPECT_EQ(GzipBound(n), zlib_bound) << n;
  }
}

TEST(GzipTest, TheDcrBodyLimitKeepsIncompressibleDataWithinTheCallLimit) {
  const std::string noise = RandomBytes(kDcrMaxBodyBytes, 11);
  for (int level : {0, 1, 9}) {
    absl::StatusOr<std::string> gz = GzipCompress(noise, level);
    ASSERT_TRUE(gz.ok());
    EXPECT_GT(gz->size(), noise.size());  // really incompressible
    EXPECT_LE(gz->size(), kLogsIngestionMaxCallBytes) << "level " << level;
  }
}

TEST(GzipTest, StopsAtMaxOutput) {
  const std::string zeros(1'000'000, '0');
  absl::StatusOr<std::string> gz = GzipCompress(zeros, 9);
  ASSERT_TRUE(gz.ok());
  EXPECT_LT(gz->size(), 5'000u);
  EXPECT_TRUE(GzipDecompress(*gz, zeros.size()).ok());
  EXPECT_EQ(GzipDecompress(*gz, zeros.size() - 1).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST(GzipTest, RejectsTruncatedCorruptAndForeignData) {
  absl::StatusOr<std::string> gz = GzipCompress(JsonRecords(50));
  ASSERT_TRUE(gz.ok());
  std::string truncated = gz->substr(0, gz->size() - 5);
  EXPECT_EQ(GzipDecompress(truncated, 1 << 20).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string corrupt = *gz;
  corrupt[gz->size() - 6] ^= 0x55;  // the CRC no longer matches
  EXPECT_EQ(GzipDecompress(corrupt, 1 << 20).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GzipDecompress("[1,2,3]", 1 << 20).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GzipDecompress("", 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GzipDecompress(*gz + "junk", 1 << 20).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GzipTest, ReadsConcatenatedMembers) {
  absl::StatusOr<std::string> a = GzipCompress("[1,");
  absl::StatusOr<std::string> b = GzipCompress("2]");
  ASSERT_TRUE(a.ok() && b.ok());
  absl::StatusOr<std::string> both = GzipDecompress(*a + *b, 100);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(*both, "[1,2]");
}

}  // namespace
}  // namespace outboxd
