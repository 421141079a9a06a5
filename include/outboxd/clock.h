// The only way outboxd reads the time.
//
// Every component that needs "now" takes a `Clock*` at construction. Tests
// pass a `FakeClock` and move time by hand, so retry schedules, the 12-hour
// health window and the hourly report are exercised in milliseconds.
#pragma once

#include <atomic>
#include <cstdint>

namespace outboxd {

// Milliseconds since the Unix epoch (UTC). All timestamps in outboxd use it.
using TimeMs = int64_t;

inline constexpr TimeMs kSecondMs = 1000;
inline constexpr TimeMs kMinuteMs = 60 * kSecondMs;
inline constexpr TimeMs kHourMs = 60 * kMinuteMs;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time. Thread-safe.
  virtual TimeMs NowMs() const = 0;
};

// The process-wide real clock (CLOCK_REALTIME). Never null, never deleted.
Clock* RealClock();

// A clock that only moves when told to. Thread-safe.
//
// Example:
//   FakeClock clock(1'700'000'000'000);
//   clock.Advance(3 * kSecondMs);
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimeMs start = 1'700'000'000'000) : now_(start) {}
  TimeMs NowMs() const override { return now_.load(std::memory_order_acquire); }
  void Set(TimeMs t) { now_.store(t, std::memory_order_release); }
  void Advance(TimeMs d) { now_.fetch_add(d, std::memory_order_acq_rel); }

 private:
  std::atomic<TimeMs> now_;
};

}  // namespace outboxd
