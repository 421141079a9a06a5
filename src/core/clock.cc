#include "outboxd/clock.h"

#include <time.h>

namespace outboxd {
namespace {

class SystemClock final : public Clock {
 public:
  TimeMs NowMs() const override {
    timespec ts;
    // CLOCK_REALTIME cannot fail with a valid pointer.
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<TimeMs>(ts.tv_sec) * kSecondMs + ts.tv_nsec / 1'000'000;
  }
};

}  // namespace

Clock* RealClock() {
  // Intentionally leaked: the clock must outlive every static that uses it.
  static Clock* const clock = new SystemClock();
  return clock;
}

}  // namespace outboxd
