#include "outboxd/signer.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "civil_date.h"

namespace outboxd {
namespace {

using core_internal::CivilDate;
using core_internal::CivilFromDays;
using core_internal::DaysFromCivil;
using core_internal::FloorDiv;

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> kDecodeTable = [] {
  std::array<int8_t, 256> table{};
  table.fill(-1);
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
  return table;
}();

constexpr std::array<std::string_view, 7> kDayNames = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 12> kMonthNames = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr int64_t kDayMs = 24 * kHourMs;

// 0 = Sunday; 1970-01-01 was a Thursday.
int WeekdayOf(int64_t days) { return static_cast<int>(((days % 7) + 7 + 4) % 7); }

bool IsLeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t year, int month) {
  constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// Parses exactly `text.size()` decimal digits; -1 when any is not a digit.
int64_t ParseDigits(std::string_view text) {
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

template <size_t N>
int IndexOf(const std::array<std::string_view, N>& names, std::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

bool IsLogTypeChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_';
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  // EVP_EncodeBlock takes an int length: encode in chunks of whole groups.
  constexpr size_t kChunk = 3 * (1 << 20);
  std::string out;
  out.resize((bytes.size() + 2) / 3 * 4 + 1);  // + the NUL EVP_EncodeBlock writes
  size_t written = 0;
  for (size_t pos = 0; pos < bytes.size(); pos += kChunk) {
    const size_t n = std::min(kChunk, bytes.size() - pos);
    written += static_cast<size_t>(EVP_EncodeBlock(
        reinterpret_cast<unsigned char*>(out.data() + written),
        reinterpret_cast<const unsigned char*>(bytes.data() + pos), static_cast<int>(n)));
  }
  out.resize(written);
  return out;
}

absl::StatusOr<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return absl::InvalidArgumentError("base64: length is not a multiple of 4");
  }
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const size_t chars = last ? 4 - pad : 4;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      int8_t d = 0;
      if (k < chars) {
        d = kDecodeTable[static_cast<unsigned char>(text[i + k])];
        if (d < 0) return absl::InvalidArgumentError("base64: invalid character");
      }
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    // Strict: the bits a padded group does not carry must be zero (RFC 4648
    // 3.5), so every byte string has exactly one accepted encoding.
    if ((chars == 3 && (v & 0xff) != 0) || (chars == 2 && (v & 0xffff) != 0)) {
      return absl::InvalidArgumentError("base64: non-zero padding bits");
    }
    out.push_back(static_cast<char>(v >> 16));
    if (chars >= 3) out.push_back(static_cast<char>((v >> 8) & 0xff));
    if (chars == 4) out.push_back(static_cast<char>(v & 0xff));
  }
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view message) {
  static constexpr unsigned char kEmpty[1] = {0};
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  const void* key_data = key.empty() ? kEmpty : static_cast<const void*>(key.data());
  const auto* data =
      message.empty() ? kEmpty : reinterpret_cast<const unsigned char*>(message.data());
  if (HMAC(EVP_sha256(), key_data, static_cast<int>(key.size()), data, message.size(),
           mac, &mac_len) == nullptr) {
    // Only possible when OpenSSL itself is broken (no SHA-256): fail loudly.
    std::fputs("outboxd: HMAC-SHA256 failed\n", stderr);
    std::abort();
  }
  return std::string(reinterpret_cast<const char*>(mac), mac_len);
}

std::string Rfc1123Date(TimeMs t) {
  const int64_t days = FloorDiv(t, kDayMs);
  const int64_t second_of_day = (t - days * kDayMs) / kSecondMs;
  const CivilDate date = CivilFromDays(days);
  char buf[64];
  const int n = std::snprintf(
      buf, sizeof(buf), "%s, %02d %s %04lld %02d:%02d:%02d GMT",
      kDayNames[WeekdayOf(days)].data(), date.day, kMonthNames[date.month - 1].data(),
      static_cast<long long>(date.year), static_cast<int>(second_of_day / 3600),
      static_cast<int>(second_of_day / 60 % 60), static_cast<int>(second_of_day % 60));
  return std::string(buf, static_cast<size_t>(n));
}

absl::StatusOr<TimeMs> ParseRfc1123Date(std::string_view text) {
  // IMF-fixdate (RFC 7231 7.1.1.1), case-sensitive, fixed width:
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  const auto bad = [] { return absl::InvalidArgumentError("not an RFC 1123 date"); };
  if (text.size() != 29 || text.substr(3, 2) != ", " || text[7] != ' ' ||
      text[11] != ' ' || text[16] != ' ' || text[19] != ':' || text[22] != ':' ||
      text.substr(25) != " GMT") {
    return bad();
  }
  const int weekday = IndexOf(kDayNames, text.substr(0, 3));
  const int month = IndexOf(kMonthNames, text.substr(8, 3)) + 1;
  const int64_t day = ParseDigits(text.substr(5, 2));
  const int64_t year = ParseDigits(text.substr(12, 4));
  const int64_t hour = ParseDigits(text.substr(17, 2));
  const int64_t minute = ParseDigits(text.substr(20, 2));
  const int64_t second = ParseDigits(text.substr(23, 2));
  if (weekday < 0 || month < 1 || year < 0 || hour < 0 || hour > 23 || minute < 0 ||
      minute > 59 || second < 0 || second > 60) {  // 60: a leap second
    return bad();
  }
  if (day < 1 || day > DaysInMonth(year, month)) return bad();
  const int64_t days = DaysFromCivil(year, month, static_cast<int>(day));
  if (WeekdayOf(days) != weekday) {
    return absl::InvalidArgumentError("RFC 1123 date: day name does not match the date");
  }
  return days * kDayMs + ((hour * 60 + minute) * 60 + second) * kSecondMs;
}

absl::Status ValidateLogType(std::string_view log_type) {
  constexpr size_t kMaxLogTypeLength = 100;
  if (log_type.empty()) return absl::InvalidArgumentError("Log-Type is empty");
  if (log_type.size() > kMaxLogTypeLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("Log-Type is longer than ", kMaxLogTypeLength, " characters"));
  }
  for (char c : log_type) {
    if (!IsLogTypeChar(c)) {
      return absl::InvalidArgumentError(
          "Log-Type may contain only letters, digits and '_'");
    }
  }
  return absl::OkStatus();
}

std::string SharedKeyStringToSign(uint64_t content_length, std::string_view date) {
  std::string out =
      absl::StrCat("POST\n", content_length, "\napplication/json\nx-ms-date:");
  out.append(date);
  out.append("\n/api/logs");
  return out;
}

absl::StatusOr<SharedKeySigner> SharedKeySigner::Create(
    std::string workspace_id, std::string_view primary_key_base64) {
  absl::StatusOr<std::string> key = Base64Decode(primary_key_base64);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("primary key: ", key.status().message()));
  }
  if (key->empty()) return absl::InvalidArgumentError("primary key is empty");
  return SharedKeySigner(std::move(workspace_id), *std::move(key));
}

std::string SharedKeySigner::Signature(uint64_t content_length,
                                       std::string_view date) const {
  return Base64Encode(HmacSha256(key_, SharedKeyStringToSign(content_length, date)));
}

std::string SharedKeySigner::Authorization(uint64_t content_length,
                                           std::string_view date) const {
  return absl::StrCat("SharedKey ", workspace_id_, ":", Signature(content_length, date));
}

}  // namespace outboxd
