#include "destinations/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace outboxd {
namespace {

// windowBits 15 + 16: a gzip header and trailer instead of zlib's.
constexpr int kGzipWindowBits = 15 + 16;
// windowBits 15 + 32 would also take zlib streams; a receiver of
// `Content-Encoding: gzip` takes gzip only.
constexpr int kMemLevel = 8;
// zlib counts in uInt; feed it in pieces no larger than this.
constexpr size_t kMaxChunk = std::numeric_limits<uInt>::max();

const Bytef* In(std::string_view s) { return reinterpret_cast<const Bytef*>(s.data()); }

}  // namespace

absl::StatusOr<std::string> GzipCompress(std::string_view input, int level) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, kGzipWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return absl::InternalError("zlib: deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&zs, input.size()));
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  size_t consumed = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    const size_t chunk = std::min(kMaxChunk, input.size() - consumed);
    zs.next_in = const_cast<Bytef*>(In(input.substr(consumed)));
    zs.avail_in = static_cast<uInt>(chunk);
    const size_t room = std::min(kMaxChunk, out.size() - zs.total_out);
    zs.avail_out = static_cast<uInt>(room);
    const bool last = consumed + chunk == input.size();
    rc = deflate(&zs, last ? Z_FINISH : Z_NO_FLUSH);
    consumed += chunk - zs.avail_in;
  }
  const uLong produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return absl::InternalError(absl::StrCat("zlib: deflate failed (", rc, ")"));
  out.resize(produced);
  return out;
}

absl::StatusOr<std::string> GzipDecompress(std::string_view input, size_t max_output) {
  z_stream zs{};
  if (inflateInit2(&zs, kGzipWindowBits) != Z_OK) {
    return absl::InternalError("zlib: inflateInit2 failed");
  }
  std::string out;
  char buffer[64 * 1024];
  int rc = Z_OK;
  size_t consumed = 0;
  while (true) {
    const size_t chunk = std::min(kMaxChunk, input.size() - consumed);
    zs.next_in = const_cast<Bytef*>(In(input.substr(consumed)));
    zs.avail_in = static_cast<uInt>(chunk);
    zs.next_out = reinterpret_cast<Bytef*>(buffer);
    zs.avail_out = sizeof(buffer);
    rc = inflate(&zs, Z_NO_FLUSH);
    consumed += chunk - zs.avail_in;
    const size_t produced = sizeof(buffer) - zs.avail_out;
    if (out.size() + produced > max_output) {
      inflateEnd(&zs);
      return absl::OutOfRangeError(
          absl::StrCat("gzip data exceeds ", max_output, " bytes"));
    }
    out.append(buffer, produced);
    if (rc == Z_STREAM_END) {
      if (consumed == input.size()) break;
      // Concatenated members (RFC 1952 2.2) form one stream of data.
      if (inflateReset(&zs) != Z_OK) break;
      rc = Z_OK;
      continue;
    }
    const bool stuck = rc == Z_BUF_ERROR && produced == 0 && consumed == input.size();
    if ((rc != Z_OK && rc != Z_BUF_ERROR) || stuck) break;
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    return absl::InvalidArgumentError(rc == Z_BUF_ERROR || rc == Z_OK
                                          ? "gzip data is truncated"
                                          : "gzip data is corrupt");
  }
  return out;
}

}  // namespace outboxd
