#include "store/rocks_logger.h"

#include <cstdarg>
#include <cstdio>
#include <string>
#include <string_view>

#include "outboxd/log.h"

namespace outboxd::store_internal {
namespace {

LogLevel ToLogLevel(rocksdb::InfoLogLevel level) {
  switch (level) {
    case rocksdb::InfoLogLevel::DEBUG_LEVEL: return LogLevel::kDebug;
    case rocksdb::InfoLogLevel::INFO_LEVEL:
    case rocksdb::InfoLogLevel::HEADER_LEVEL: return LogLevel::kInfo;
    case rocksdb::InfoLogLevel::WARN_LEVEL: return LogLevel::kWarn;
    default: return LogLevel::kError;  // ERROR, FATAL
  }
}

class ForwardingLogger final : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logger;

  // Lines without a level (RocksDB's LogHeader and a few old call sites).
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }

  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    const LogLevel ours = ToLogLevel(level);
    if (!LogEnabled(ours)) return;
    char small[512];
    va_list copy;
    va_copy(copy, ap);
    const int n = vsnprintf(small, sizeof small, format, copy);
    va_end(copy);
    if (n < 0) return;
    std::string line;
    if (static_cast<size_t>(n) < sizeof small) {
      line.assign(small, static_cast<size_t>(n));
    } else {
      line.resize(static_cast<size_t>(n) + 1);
      vsnprintf(line.data(), line.size(), format, ap);
      line.resize(static_cast<size_t>(n));
    }
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
    Log(ours, "rocksdb", {{"detail", line}});
  }
};

}  // namespace

std::shared_ptr<rocksdb::Logger> NewForwardingLogger() {
  const auto level = LogEnabled(LogLevel::kDebug) ? rocksdb::InfoLogLevel::INFO_LEVEL
                                                  : rocksdb::InfoLogLevel::WARN_LEVEL;
  return std::make_shared<ForwardingLogger>(level);
}

}  // namespace outboxd::store_internal
