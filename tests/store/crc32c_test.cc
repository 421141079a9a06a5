// CRC-32C: the standard values, the SSE4.2 and portable paths agree, Combine,
// and RocksDB's own entry points are bound to ours and agree with the ones
// Debian's shared librocksdb computes.

#include "store/crc32c.h"

#include <dlfcn.h>

#include <cstdint>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace rocksdb::crc32c {
// Declared by RocksDB's util/crc32c.h, which Debian does not install.
uint32_t Extend(uint32_t init_crc, const char* data, size_t n);
std::string IsFastCrc32Supported();
}  // namespace rocksdb::crc32c

namespace outboxd::store_internal {
namespace {

uint32_t Value(const std::string& s) { return Crc32cExtend(0, s.data(), s.size()); }

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(Crc32cTest, StandardValues) {
  // RFC 3720 (iSCSI), appendix B.4, and the common check value.
  std::string zeros(32, '\0'), ones(32, '\xff'), up(32, '\0'), down(32, '\0');
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<char>(i);
    down[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(Value("123456789"), 0xe3069283u);
  EXPECT_EQ(Value(zeros), 0x8a9136aau);
  EXPECT_EQ(Value(ones), 0x62a8ab43u);
  EXPECT_EQ(Value(up), 0x46dd794eu);
  EXPECT_EQ(Value(down), 0x113fdb5cu);
  EXPECT_EQ(Value(""), 0u);
  EXPECT_EQ(Crc32cExtendPortable(0, "123456789", 9), 0xe3069283u);
}

TEST(Crc32cTest, FastAndPortablePathsAgreeAtEveryLengthAndAlignment) {
  std::mt19937_64 rng(7);
  const std::string buf = RandomBytes(rng, 1024);
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t n = 0; n + offset <= 300; ++n) {
      const uint32_t seed = static_cast<uint32_t>(rng());
      ASSERT_EQ(Crc32cExtend(seed, buf.data() + offset, n),
                Crc32cExtendPortable(seed, buf.data() + offset, n))
          << "offset " << offset << " length " << n;
    }
  }
  EXPECT_EQ(Crc32cExtend(0, buf.data(), buf.size()),
            Crc32cExtendPortable(0, buf.data(), buf.size()));
}

// The fast path runs three interleaved streams over blocks of 3 x 256 and
// 3 x 8192 bytes: lengths on both sides of every block edge, up to a WAL
// record of 32 KiB and beyond.
TEST(Crc32cTest, FastAndPortablePathsAgreeAcrossTheInterleavedBlocks) {
  std::mt19937_64 rng(11);
  const std::string buf = RandomBytes(rng, 100'008);
  for (size_t base : {768, 1536, 24'576, 25'344, 32'768, 49'152, 99'000}) {
    for (size_t n = base - 9; n <= base + 9; ++n) {
      const size_t offset = rng() % 8;
      const uint32_t seed = static_cast<uint32_t>(rng());
      ASSERT_EQ(Crc32cExtend(seed, buf.data() + offset, n),
                Crc32cExtendPortable(seed, buf.data() + offset, n))
          << "offset " << offset << " length " << n;
    }
  }
}

TEST(Crc32cTest, ExtendContinuesAndCombineJoins) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 200; ++round) {
    const std::string a = RandomBytes(rng, rng() % 700);
    const std::string b = RandomBytes(rng, rng() % 700);
    const uint32_t whole = Value(a + b);
    EXPECT_EQ(Crc32cExtend(Value(a), b.data(), b.size()), whole);
    EXPECT_EQ(Crc32cCombine(Value(a), Value(b), b.size()), whole);
  }
  // A long second part: a mebibyte of zeros.
  const std::string a = RandomBytes(rng, 100);
  const std::string zeros(1 << 20, '\0');
  EXPECT_EQ(Crc32cCombine(Value(a), Value(zeros), zeros.size()), Value(a + zeros));
}

TEST(Crc32cTest, RocksDbRunsOurs) {
  // If RocksDB's own crc32c object had been linked instead, this would be
  // its answer ("Not supported on x86" on Debian's portable build).
  EXPECT_EQ(rocksdb::crc32c::IsFastCrc32Supported(),
            "outboxd crc32c: " + std::string(Crc32cImplementation()));
  const std::string s = "a WAL record";
  EXPECT_EQ(rocksdb::crc32c::Extend(5, s.data(), s.size()), Crc32cExtend(5, s.data(), s.size()));
}

TEST(Crc32cTest, SameValuesAsDebiansLibrocksdb) {
  // dlsym on the library's handle finds the library's own definitions, not
  // the ones this binary overrides them with.
  void* lib = dlopen("librocksdb.so.7.8", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) GTEST_SKIP() << "librocksdb.so.7.8 not loadable: " << dlerror();
  using ExtendFn = uint32_t (*)(uint32_t, const char*, size_t);
  using CombineFn = uint32_t (*)(uint32_t, uint32_t, size_t);
  auto extend = reinterpret_cast<ExtendFn>(dlsym(lib, "_ZN7rocksdb6crc32c6ExtendEjPKcm"));
  auto combine =
      reinterpret_cast<CombineFn>(dlsym(lib, "_ZN7rocksdb6crc32c13Crc32cCombineEjjm"));
  ASSERT_NE(extend, nullptr);
  ASSERT_NE(combine, nullptr);
  ASSERT_NE(extend, &rocksdb::crc32c::Extend);  // really the library's
  std::mt19937_64 rng(13);
  for (int round = 0; round < 300; ++round) {
    const std::string a = RandomBytes(rng, rng() % 2000);
    const std::string b = RandomBytes(rng, rng() % 300);
    const uint32_t seed = static_cast<uint32_t>(rng());
    ASSERT_EQ(Crc32cExtend(seed, a.data(), a.size()), extend(seed, a.data(), a.size()));
    ASSERT_EQ(Crc32cCombine(Value(a), Value(b), b.size()),
              combine(Value(a), Value(b), b.size()));
  }
  EXPECT_EQ(Crc32cCombine(7, 9, 0), combine(7, 9, 0));
  // Lengths no test buffer has: every bit of a size_t.
  for (int bit = 0; bit < 64; ++bit) {
    const size_t length = (size_t{1} << bit) | (rng() & ((size_t{1} << bit) - 1));
    ASSERT_EQ(Crc32cCombine(0x12345678, 0x9abcdef0, length),
              combine(0x12345678, 0x9abcdef0, length))
        << length;
  }
  dlclose(lib);
}

}  // namespace
}  // namespace outboxd::store_internal
