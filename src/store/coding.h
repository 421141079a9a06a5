// Byte-level encodings shared by the store's key and value codecs:
// big-endian fixed64 (keys: byte order equals numeric order), little-endian
// fixed64 (values and merge operands, RocksDB's convention) and LEB128
// varints. Decoders consume from the front of a string_view and return false
// on truncated or malformed input; they never read past its end.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace outboxd::store_internal {

// The Encode* forms write into a caller's buffer (8 bytes; a varint at most
// kMaxVarint64Size) and return the end; the Put* forms append to a string.
inline constexpr size_t kMaxVarint64Size = 10;

inline char* EncodeBigEndian64(char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return p + 8;
}

inline void PutBigEndian64(std::string* dst, uint64_t v) {
  char buf[8];
  dst->append(buf, EncodeBigEndian64(buf, v));
}

inline uint64_t DecodeBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

inline char* EncodeFixed64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return p + 8;
}

inline void PutFixed64(std::string* dst, uint64_t v) {
  char buf[8];
  dst->append(buf, EncodeFixed64(buf, v));
}

inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

inline std::string EncodeFixed64(uint64_t v) {
  std::string s;
  PutFixed64(&s, v);
  return s;
}

inline bool GetFixed64(std::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  *v = DecodeFixed64(in->data());
  in->remove_prefix(8);
  return true;
}

inline char* EncodeVarint64(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

inline void PutVarint64(std::string* dst, uint64_t v) {
  char buf[kMaxVarint64Size];
  dst->append(buf, EncodeVarint64(buf, v));
}

inline bool GetVarint64(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (size_t i = 0; i < in->size() && i < 10; ++i) {
    const uint64_t byte = static_cast<uint8_t>((*in)[i]);
    if (i == 9 && byte > 1) return false;  // more than 64 bits
    result |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      *v = result;
      in->remove_prefix(i + 1);
      return true;
    }
  }
  return false;
}

}  // namespace outboxd::store_internal
