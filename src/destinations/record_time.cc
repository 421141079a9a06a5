#include "destinations/record_time.h"

#include <algorithm>
#include <cstdint>

#include "simdjson.h"

namespace outboxd {
namespace {

// The parser below follows src/api/rfc3339.cc (ParseRfc3339), copied so that
// destinations and the batcher need not link the API module.

bool IsLeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}

  // Exactly `n` digits.
  bool Digits(int n, int* out) {
    if (s_.size() < pos_ + n) return false;
    int v = 0;
    for (int i = 0; i < n; ++i) {
      const char c = s_[pos_ + i];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    pos_ += n;
    *out = v;
    return true;
  }
  bool Char(char a, char b = '\0') {
    if (pos_ >= s_.size() || (s_[pos_] != a && (b == '\0' || s_[pos_] != b))) return false;
    ++pos_;
    return true;
  }
  // ".digits" if present: milliseconds from the first three digits.
  bool Fraction(int* ms) {
    *ms = 0;
    if (!Char('.')) return true;
    int digits = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      if (digits < 3) *ms = *ms * 10 + (s_[pos_] - '0');
      ++digits;
      ++pos_;
    }
    for (int i = digits; i < 3; ++i) *ms *= 10;
    return digits > 0;
  }
  // "Z" or "+HH:MM" / "-HH:MM": minutes east of UTC.
  bool Offset(int* minutes) {
    *minutes = 0;
    if (Char('Z', 'z')) return true;
    int sign = 1;
    if (Char('-')) {
      sign = -1;
    } else if (!Char('+')) {
      return false;
    }
    int hh = 0, mm = 0;
    if (!Digits(2, &hh) || !Char(':') || !Digits(2, &mm) || hh > 23 || mm > 59) return false;
    *minutes = sign * (hh * 60 + mm);
    return true;
  }
  bool AtEnd() const { return pos_ == s_.size(); }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<TimeMs> ParseRecordTimestamp(std::string_view text) {
  Cursor c(text);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, ms = 0, offset = 0;
  const bool syntax_ok = c.Digits(4, &year) && c.Char('-') && c.Digits(2, &month) &&
                         c.Char('-') && c.Digits(2, &day) && c.Char('T', 't') &&
                         c.Digits(2, &hour) && c.Char(':') && c.Digits(2, &minute) &&
                         c.Char(':') && c.Digits(2, &second) && c.Fraction(&ms) &&
                         c.Offset(&offset) && c.AtEnd();
  if (!syntax_ok || month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) ||
      hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  const int64_t seconds = DaysFromCivil(year, month, day) * 86400 + hour * 3600 +
                          minute * 60 + second - offset * 60;
  return seconds * kSecondMs + ms;
}

std::optional<TimeMs> RecordTime(std::string_view record_json, std::string_view field) {
  // One parser per thread: its buffers are reused across records.
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string padded(record_json);
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS) return std::nullopt;
  simdjson::ondemand::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) return std::nullopt;
  for (auto member : object) {
    std::string_view key;
    if (member.unescaped_key().get(key) != simdjson::SUCCESS) return std::nullopt;
    if (key != field) continue;  // the iteration skips the value
    std::string_view value;
    if (member.value().get_string().get(value) != simdjson::SUCCESS) return std::nullopt;
    return ParseRecordTimestamp(value);
  }
  return std::nullopt;
}

TimeMs RecordsTimeSpanMs(absl::Span<const std::string_view> records, std::string_view field) {
  std::optional<TimeMs> earliest;
  std::optional<TimeMs> latest;
  for (std::string_view record : records) {
    const std::optional<TimeMs> t = RecordTime(record, field);
    if (!t) continue;
    earliest = std::min(earliest.value_or(*t), *t);
    latest = std::max(latest.value_or(*t), *t);
  }
  return earliest ? *latest - *earliest : 0;
}

}  // namespace outboxd
