// CRC-32C (Castagnoli), with the SSE4.2 crc32 instruction when the CPU has
// it. RocksDB checksums every WAL and MANIFEST record with CRC-32C, and
// Debian builds librocksdb portable: its own rocksdb::crc32c runs a table
// loop on every CPU (7 % of outboxd's CPU end to end, docs/performance.md).
// crc32c.cc therefore also defines rocksdb::crc32c's three functions, and
// the linker takes them instead of RocksDB's (docs/storage.md, "CRC-32C").
// The values are the standard CRC-32C, the same as RocksDB's, so data
// directories written with either read back with either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace outboxd::store_internal {

// The CRC of `data` appended to data whose CRC is `crc` (0 for none):
// RocksDB's crc32c::Extend.
uint32_t Crc32cExtend(uint32_t crc, const char* data, size_t n);
// The same with the portable table loop (what a CPU without SSE4.2 runs).
uint32_t Crc32cExtendPortable(uint32_t crc, const char* data, size_t n);
// The CRC of A followed by B from crc(A), crc(B) and the length of B.
uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, size_t length_b);
// "sse4.2" or "portable": what Crc32cExtend runs on this CPU.
std::string_view Crc32cImplementation();

}  // namespace outboxd::store_internal
