#include "outboxd/log.h"
#include "outboxd/strings.h"

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace outboxd {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::mutex g_mu;
std::string* g_sink = nullptr;  // guarded by g_mu

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

// Values with spaces, quotes or '=' are quoted so a line stays parseable.
void AppendValue(std::string& out, std::string_view v) {
  bool quote = v.empty() || v.find_first_of(" \"=\t\n\\") != std::string_view::npos;
  if (!quote) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

std::string Timestamp() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);  // log stamps only: never used in logic
  tm utc;
  gmtime_r(&ts.tv_sec, &utc);
  char buf[64];  // room for any int fields, so the compiler sees no truncation
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", utc.tm_year + 1900,
           utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
           ts.tv_nsec / 1'000'000);
  return buf;
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(level, std::memory_order_relaxed); }

bool LogEnabled(LogLevel level) { return level >= g_level.load(std::memory_order_relaxed); }

void SetLogSinkForTest(std::string* sink) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_sink = sink;
}

std::string FormatLogFields(LogLevel level, std::string_view msg,
                            std::initializer_list<LogField> fields) {
  std::string line = absl::StrCat("level=", Sv(LevelName(level)), " msg=");
  AppendValue(line, msg);
  for (const LogField& f : fields) {
    absl::StrAppend(&line, " ", Sv(f.key), "=");
    AppendValue(line, f.value);
  }
  return line;
}

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) return;
  std::string line = absl::StrCat("ts=", Timestamp(), " ", FormatLogFields(level, msg, fields), "\n");
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_sink != nullptr) {
    g_sink->append(line);
    return;
  }
  fwrite(line.data(), 1, line.size(), stderr);
}

bool LogThrottle::Allow(int64_t now_ms, uint64_t* suppressed) {
  int64_t next = next_ms_.load(std::memory_order_relaxed);
  if (now_ms < next ||
      !next_ms_.compare_exchange_strong(next, now_ms + interval_ms_, std::memory_order_relaxed)) {
    held_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  *suppressed = held_.exchange(0, std::memory_order_relaxed);
  return true;
}

uint64_t LogThrottle::Reset() {
  next_ms_.store(INT64_MIN, std::memory_order_relaxed);
  return held_.exchange(0, std::memory_order_relaxed);
}

}  // namespace outboxd
