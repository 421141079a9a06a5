#include "outboxd/rfc3339.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "absl/status/status.h"
#include "civil_date.h"

namespace outboxd {
namespace {

using core_internal::CivilDate;
using core_internal::CivilFromDays;
using core_internal::DaysFromCivil;

constexpr int64_t kDayMs = 24 * kHourMs;
// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z.
constexpr TimeMs kMinFormattable = -62167219200000;
constexpr TimeMs kMaxFormattable = 253402300799999;

bool IsLeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `*pos`.
bool ReadDigits(std::string_view s, size_t* pos, int n, int* out) {
  if (s.size() < *pos + n) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    const char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t* pos, char a, char b = '\0') {
  if (*pos >= s.size() || (s[*pos] != a && (b == '\0' || s[*pos] != b))) return false;
  ++*pos;
  return true;
}

// Reads ".digits" if present: milliseconds from the first three digits.
bool ReadFraction(std::string_view s, size_t* pos, int* ms) {
  *ms = 0;
  if (*pos >= s.size() || s[*pos] != '.') return true;
  ++*pos;
  int digits = 0;
  while (*pos < s.size() && s[*pos] >= '0' && s[*pos] <= '9') {
    if (digits < 3) *ms = *ms * 10 + (s[*pos] - '0');
    ++digits;
    ++*pos;
  }
  for (int i = digits; i < 3; ++i) *ms *= 10;
  return digits > 0;
}

// Reads "Z" or "+HH:MM" / "-HH:MM" as an offset east of UTC in minutes.
bool ReadOffset(std::string_view s, size_t* pos, int* offset_min) {
  if (Expect(s, pos, 'Z', 'z')) {
    *offset_min = 0;
    return true;
  }
  if (*pos >= s.size() || (s[*pos] != '+' && s[*pos] != '-')) return false;
  const int sign = s[*pos] == '-' ? -1 : 1;
  ++*pos;
  int hh = 0, mm = 0;
  if (!ReadDigits(s, pos, 2, &hh) || !Expect(s, pos, ':') ||
      !ReadDigits(s, pos, 2, &mm) || hh > 23 || mm > 59) {
    return false;
  }
  *offset_min = sign * (hh * 60 + mm);
  return true;
}

}  // namespace

absl::StatusOr<TimeMs> ParseRfc3339(std::string_view text) {
  size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, ms = 0, offset = 0;
  const bool syntax_ok =
      ReadDigits(text, &pos, 4, &year) && Expect(text, &pos, '-') &&
      ReadDigits(text, &pos, 2, &month) && Expect(text, &pos, '-') &&
      ReadDigits(text, &pos, 2, &day) && Expect(text, &pos, 'T', 't') &&
      ReadDigits(text, &pos, 2, &hour) && Expect(text, &pos, ':') &&
      ReadDigits(text, &pos, 2, &minute) && Expect(text, &pos, ':') &&
      ReadDigits(text, &pos, 2, &second) && ReadFraction(text, &pos, &ms) &&
      ReadOffset(text, &pos, &offset) && pos == text.size();
  if (!syntax_ok) {
    return absl::InvalidArgumentError("not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SSZ)");
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) || hour > 23 ||
      minute > 59 || second > 60) {
    return absl::InvalidArgumentError("RFC 3339 date-time out of range");
  }
  const int64_t seconds = DaysFromCivil(year, month, day) * 86400 + hour * 3600 +
                          minute * 60 + second - offset * 60;
  return seconds * kSecondMs + ms;
}

std::string FormatRfc3339(TimeMs t) {
  t = std::clamp(t, kMinFormattable, kMaxFormattable);
  int64_t days = t / kDayMs;
  int64_t rem = t % kDayMs;
  if (rem < 0) {
    rem += kDayMs;
    --days;
  }
  const CivilDate c = CivilFromDays(days);
  const int64_t secs = rem / kSecondMs;
  char buf[96];  // roomy: GCC cannot see the clamped ranges
  std::snprintf(buf, sizeof(buf), "%04lld-%02d-%02dT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(c.year), c.month, c.day,
                static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60),
                static_cast<long long>(rem % kSecondMs));
  return buf;
}

}  // namespace outboxd
