// One-line structured logs: `ts=2026-11-27T20:00:00.123Z level=warn msg="..." key=value ...`.
//
// Every delivery line carries `integration=<id>`. Secrets are never passed
// here. Thread-safe; lines are written whole.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace outboxd {

enum class LogLevel : uint8_t { kDebug, kInfo, kWarn, kError };

// A key and its already formatted value.
struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
  LogField(std::string_view k, T v) : key(k), value(absl::StrCat(v)) {}
  std::string_view key;
  std::string value;
};

// Lines below `level` are dropped. Default kInfo.
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
// Sends lines to `sink` instead of stderr (tests); nullptr restores stderr.
void SetLogSinkForTest(std::string* sink);

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

// How often an error that repeats at the rate of requests is logged.
inline constexpr int64_t kRepeatedErrorLogIntervalMs = 10'000;

// Lets one line through per interval and counts the ones it held back, for
// errors that repeat at the rate of requests (a full disk refuses every
// ingest request, a destination that is down fails every request): the log
// keeps the first line and, every interval, one with the number of lines
// left out. Thread-safe.
class LogThrottle {
 public:
  explicit LogThrottle(int64_t interval_ms = kRepeatedErrorLogIntervalMs)
      : interval_ms_(interval_ms) {}
  // True when a line may be written at `now_ms`; then `*suppressed` is the
  // number of lines held back since the previous one.
  bool Allow(int64_t now_ms, uint64_t* suppressed);
  // The episode is over (the error stopped): the next line goes through at
  // once. Returns the number of lines held back since the last one written.
  uint64_t Reset();

 private:
  const int64_t interval_ms_;
  std::atomic<int64_t> next_ms_{INT64_MIN};
  std::atomic<uint64_t> held_{0};
};

// The line Log writes, without the timestamp (exposed for tests).
std::string FormatLogFields(LogLevel level, std::string_view msg,
                            std::initializer_list<LogField> fields);

}  // namespace outboxd
