#include <cstdio>
#include <cstdlib>
#include <string>

#include "daemon/allocator.h"
#include "daemon/daemon.h"
#include "daemon/options.h"
#include "outboxd/log.h"

int main(int argc, char** argv) {
  auto options = outboxd::ParseDaemonOptions(
      argc, argv, [](const char* name) -> const char* { return std::getenv(name); });
  if (!options.ok()) {
    fprintf(stderr, "outboxd: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  if (options->help) {
    fputs(outboxd::DaemonUsage().c_str(), stdout);
    return 0;
  }
  const std::string& level = options->log_level;
  outboxd::SetLogLevel(level == "debug"  ? outboxd::LogLevel::kDebug
                       : level == "warn"  ? outboxd::LogLevel::kWarn
                       : level == "error" ? outboxd::LogLevel::kError
                                          : outboxd::LogLevel::kInfo);
  // Before any thread starts: mallopt is not meant to race allocations.
  const std::string allocator = outboxd::TuneAllocator();
  if (!allocator.empty()) {
    outboxd::Log(outboxd::LogLevel::kInfo, "malloc tuned", {{"settings", allocator}});
  }
  return outboxd::RunDaemon(*options);
}
