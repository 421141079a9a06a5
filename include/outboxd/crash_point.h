// Named crash points for the crash suite.
//
// OUTBOXD_CRASH_POINT("store.apply.after_write") kills the process with
// SIGKILL when the build defines OUTBOXD_CRASH_POINTS and the environment
// variable OUTBOXD_CRASH_AT names that point:
//   OUTBOXD_CRASH_AT=store.apply.after_write     at its first hit
//   OUTBOXD_CRASH_AT=store.apply.after_write:5   at its 5th hit (process-wide)
// Without OUTBOXD_CRASH_POINTS the macro compiles to nothing. The variable is
// read once, on the first hit of any point; a hit of an unarmed point costs a
// string comparison.
//
// Points so far:
//   store.apply.before_write  Apply built its batch, nothing written yet
//   store.apply.after_write   the batch is durable, readers not told yet
//   ingest.durable.before_answer      events durable, the 202 not sent
//   dispatch.answered.before_commit   the destination answered, nothing committed
//   dispatch.retry.before_commit      a failed request's retry move not committed
//   dispatch.broken.before_commit     the failure rule tripped, state not committed
#pragma once

#if defined(OUTBOXD_CRASH_POINTS)

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace outboxd::crash_point_internal {

class ArmedPoint {
 public:
  ArmedPoint() {
    const char* env = std::getenv("OUTBOXD_CRASH_AT");
    if (env == nullptr || *env == '\0') return;
    std::string_view spec(env);
    const size_t colon = spec.rfind(':');
    if (colon != std::string_view::npos) {
      const std::string_view count = spec.substr(colon + 1);
      uint64_t n = 0;
      auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), n);
      if (ec == std::errc() && end == count.data() + count.size() && n > 0) {
        at_hit_ = n;
        spec = spec.substr(0, colon);
      }
    }
    name_ = std::string(spec);
  }

  void Hit(std::string_view name) {
    if (name_.empty() || name != name_) return;
    if (hits_.fetch_add(1, std::memory_order_relaxed) + 1 >= at_hit_) {
      // SIGKILL, not abort(): no handlers, no flushing, exactly like the
      // kill -9 the crash suite wants to reproduce.
      ::raise(SIGKILL);
      ::_exit(137);
    }
  }

 private:
  std::string name_;
  uint64_t at_hit_ = 1;
  std::atomic<uint64_t> hits_{0};
};

inline ArmedPoint& Armed() {
  static ArmedPoint point;  // reads the environment once
  return point;
}

}  // namespace outboxd::crash_point_internal

#define OUTBOXD_CRASH_POINT(name) ::outboxd::crash_point_internal::Armed().Hit(name)

#else

#define OUTBOXD_CRASH_POINT(name) \
  do {                            \
  } while (false)

#endif
