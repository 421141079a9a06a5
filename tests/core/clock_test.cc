#include "outboxd/clock.h"

#include <chrono>

#include "gtest/gtest.h"

namespace outboxd {
namespace {

TEST(RealClockTest, IsUnixEpochMilliseconds) {
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const TimeMs now = RealClock()->NowMs();
  const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  // Both read CLOCK_REALTIME; only a clock step between the reads could split them.
  EXPECT_GE(now, before);
  EXPECT_LE(now, after);
  EXPECT_EQ(RealClock(), RealClock());
}

TEST(FakeClockTest, MovesOnlyWhenTold) {
  FakeClock clock(1000);
  EXPECT_EQ(clock.NowMs(), 1000);
  clock.Advance(3 * kSecondMs);
  EXPECT_EQ(clock.NowMs(), 4000);
  clock.Set(7);
  EXPECT_EQ(clock.NowMs(), 7);
}

}  // namespace
}  // namespace outboxd
