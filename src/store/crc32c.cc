#include "store/crc32c.h"

#include <array>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace outboxd::store_internal {
namespace {

constexpr uint32_t kPolynomial = 0x82f63b78;  // Castagnoli, bit-reflected

// Slice-by-8 tables: kTables[k][b] is the CRC register after byte b followed
// by k zero bytes.
using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables MakeTables() {
  Tables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1) ? kPolynomial : 0);
    t[0][b] = c;
  }
  for (size_t k = 1; k < 8; ++k)
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
  return t;
}

constexpr Tables kTables = MakeTables();

uint64_t Load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;  // little-endian: x86-64 and aarch64 as Debian builds them
}

// The functions below work on the raw register (the CRC inverted).
uint32_t ExtendTables(uint32_t reg, const unsigned char* p, size_t n) {
  for (; n >= 8; p += 8, n -= 8) {
    const uint64_t v = Load64(p) ^ reg;
    reg = kTables[7][v & 0xff] ^ kTables[6][(v >> 8) & 0xff] ^ kTables[5][(v >> 16) & 0xff] ^
          kTables[4][(v >> 24) & 0xff] ^ kTables[3][(v >> 32) & 0xff] ^
          kTables[2][(v >> 40) & 0xff] ^ kTables[1][(v >> 48) & 0xff] ^ kTables[0][v >> 56];
  }
  for (; n > 0; ++p, --n) reg = (reg >> 8) ^ kTables[0][(reg ^ *p) & 0xff];
  return reg;
}

// Polynomials modulo the CRC polynomial, bit-reflected like the register
// (bit 31 is x^0), for Crc32cCombine; the method of zlib's crc32_combine.
// a * b mod P.
constexpr uint32_t MultiplyModP(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t m = 1u << 31; m != 0; m >>= 1) {
    if (a & m) {
      product ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    b = (b & 1) ? (b >> 1) ^ kPolynomial : b >> 1;
  }
  return product;
}

// kPowers[k] = x^(2^k) mod P, for every k a size_t length can need (the
// length in bits is length * 2^3).
constexpr size_t kPowerCount = 64 + 3;
constexpr std::array<uint32_t, kPowerCount> MakePowers() {
  std::array<uint32_t, kPowerCount> t{};
  uint32_t p = 1u << 30;  // x^1
  for (uint32_t& e : t) {
    e = p;
    p = MultiplyModP(p, p);
  }
  return t;
}

constexpr std::array<uint32_t, kPowerCount> kPowers = MakePowers();

// x^(8 n) mod P: the operator that appends n zero bytes to a register.
constexpr uint32_t ZeroBytesOperator(size_t n) {
  uint32_t p = 1u << 31;  // x^0
  for (size_t k = 3; n != 0; n >>= 1, ++k)
    if (n & 1) p = MultiplyModP(kPowers[k], p);
  return p;
}

// Appending a block of n bytes multiplies the register by x^(8 n): a linear
// map, applied a byte of the register at a time from four tables.
using ShiftTable = std::array<std::array<uint32_t, 256>, 4>;

constexpr ShiftTable MakeShiftTable(size_t n) {
  const uint32_t op = ZeroBytesOperator(n);
  ShiftTable t{};
  for (size_t k = 0; k < 4; ++k)
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = MultiplyModP(op, b << (8 * k));
  return t;
}

uint32_t Shift(const ShiftTable& t, uint32_t reg) {
  return t[0][reg & 0xff] ^ t[1][(reg >> 8) & 0xff] ^ t[2][(reg >> 16) & 0xff] ^
         t[3][reg >> 24];
}

// The crc32 instruction takes 3 cycles and the CPU can start one a cycle, so
// one dependent chain uses a third of it. Three chains over three adjacent
// blocks, joined with Shift, use all of it: WAL records are up to 32 KiB.
constexpr size_t kLongBlock = 8192;
constexpr size_t kShortBlock = 256;
constexpr ShiftTable kShiftLong = MakeShiftTable(kLongBlock);
constexpr ShiftTable kShiftShort = MakeShiftTable(kShortBlock);

#if defined(__x86_64__)
template <size_t kBlock>
__attribute__((target("sse4.2"))) uint32_t Sse42Stripes(uint32_t reg,
                                                        const ShiftTable& shift,
                                                        const unsigned char*& p,
                                                        size_t& n) {
  static_assert(kBlock % 8 == 0);
  for (; n >= 3 * kBlock; p += 3 * kBlock, n -= 3 * kBlock) {
    uint64_t r0 = reg, r1 = 0, r2 = 0;
    for (size_t i = 0; i < kBlock; i += 8) {
      r0 = _mm_crc32_u64(r0, Load64(p + i));
      r1 = _mm_crc32_u64(r1, Load64(p + kBlock + i));
      r2 = _mm_crc32_u64(r2, Load64(p + 2 * kBlock + i));
    }
    reg = Shift(shift, static_cast<uint32_t>(r0)) ^ static_cast<uint32_t>(r1);
    reg = Shift(shift, reg) ^ static_cast<uint32_t>(r2);
  }
  return reg;
}

__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t reg,
                                                       const unsigned char* p, size_t n) {
  reg = Sse42Stripes<kLongBlock>(reg, kShiftLong, p, n);
  reg = Sse42Stripes<kShortBlock>(reg, kShiftShort, p, n);
  uint64_t r = reg;
  for (; n >= 8; p += 8, n -= 8) r = _mm_crc32_u64(r, Load64(p));
  uint32_t r32 = static_cast<uint32_t>(r);
  for (; n > 0; ++p, --n) r32 = _mm_crc32_u8(r32, *p);
  return r32;
}
#endif

using ExtendFn = uint32_t (*)(uint32_t, const unsigned char*, size_t);

ExtendFn Chosen() {
#if defined(__x86_64__)
  static const ExtendFn chosen =
      __builtin_cpu_supports("sse4.2") ? ExtendSse42 : ExtendTables;
#else
  static const ExtendFn chosen = ExtendTables;
#endif
  return chosen;
}

const unsigned char* Bytes(const char* data) {
  return reinterpret_cast<const unsigned char*>(data);
}

}  // namespace

uint32_t Crc32cExtend(uint32_t crc, const char* data, size_t n) {
  return ~Chosen()(~crc, Bytes(data), n);
}

uint32_t Crc32cExtendPortable(uint32_t crc, const char* data, size_t n) {
  return ~ExtendTables(~crc, Bytes(data), n);
}

uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, size_t length_b) {
  // crc(A . B) = crc(A) * x^(8 |B|) + crc(B): the pre- and post-inversion
  // of the two CRCs cancel out, as in zlib.
  return MultiplyModP(ZeroBytesOperator(length_b), crc_a) ^ crc_b;
}

std::string_view Crc32cImplementation() {
  return Chosen() == &ExtendTables ? "portable" : "sse4.2";
}

}  // namespace outboxd::store_internal

// RocksDB's CRC-32C entry points (util/crc32c.h, not installed by Debian),
// defined here so the linker binds RocksDB's calls to them. These are the
// only three functions its crc32c object exports in 7.8; if a RocksDB added
// another, the link would fail with a duplicate definition instead of
// mixing the two. See docs/storage.md, "CRC-32C".
namespace rocksdb::crc32c {

uint32_t Extend(uint32_t init_crc, const char* data, size_t n);
std::string IsFastCrc32Supported();
uint32_t Crc32cCombine(uint32_t crc1, uint32_t crc2, size_t crc2len);

uint32_t Extend(uint32_t init_crc, const char* data, size_t n) {
  return outboxd::store_internal::Crc32cExtend(init_crc, data, n);
}

std::string IsFastCrc32Supported() {
  return "outboxd crc32c: " + std::string(outboxd::store_internal::Crc32cImplementation());
}

uint32_t Crc32cCombine(uint32_t crc1, uint32_t crc2, size_t crc2len) {
  return outboxd::store_internal::Crc32cCombine(crc1, crc2, crc2len);
}

}  // namespace rocksdb::crc32c
