// gzip (RFC 1952) over zlib, for bodies sent with `Content-Encoding: gzip`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace outboxd {

// The most bytes GzipCompress can produce for `input_bytes` of input at any
// level (zlib's deflateBound for a gzip wrapper). A caller that keeps its
// input under a limit knows the compressed size without compressing.
//
// This is zlib's deflateBound() for windowBits 15 and memLevel 8 (what
// GzipCompress uses, at every level) with the gzip wrapper: a 10 byte header
// and an 8 byte trailer. Tests check it against deflateBound().
constexpr uint64_t GzipBound(uint64_t n) {
  return n + (n >> 12) + (n >> 14) + (n >> 25) + 13 - 6 + 18;
}

// One gzip member holding `input`. `level` is zlib's 0 (store) .. 9 (best);
// -1 is zlib's default (6). Internal when zlib fails (out of memory).
absl::StatusOr<std::string> GzipCompress(std::string_view input, int level = -1);

// The data of the gzip member(s) in `input`. InvalidArgument when `input` is
// not gzip or is truncated or corrupt; OutOfRange when the data would exceed
// `max_output` bytes (a "zip bomb" stops there, after at most max_output
// bytes were produced).
absl::StatusOr<std::string> GzipDecompress(std::string_view input, size_t max_output);

}  // namespace outboxd
