#include "outboxd/health.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace outboxd {
namespace {

constexpr int64_t kWindowMinutes = 12 * 60;
// A minute boundary, so minute arithmetic in the tests stays readable.
constexpr TimeMs kStart = 1'700'000'040'000;
static_assert(kStart % kMinuteMs == 0);

HealthOptions Options(uint64_t min_requests = 20) {
  HealthOptions o;
  o.window_ms = 12 * kHourMs;
  o.threshold = 0.6;
  o.min_requests = min_requests;
  return o;
}

void RecordMany(HealthWindow& w, TimeMs now, int requests, int failures) {
  for (int i = 0; i < requests; ++i) w.Record(now, i < failures);
}

TEST(HealthWindowTest, MinuteOfFloors) {
  EXPECT_EQ(MinuteOf(0), 0);
  EXPECT_EQ(MinuteOf(59'999), 0);
  EXPECT_EQ(MinuteOf(60'000), 1);
  EXPECT_EQ(MinuteOf(-1), -1);
  EXPECT_EQ(MinuteOf(-60'000), -1);
  EXPECT_EQ(MinuteOf(-60'001), -2);
}

TEST(HealthWindowTest, ThresholdIsInclusive) {
  FakeClock clock(kStart);
  HealthWindow below(Options());
  RecordMany(below, clock.NowMs(), 100, 59);
  EXPECT_EQ(below.Totals(clock.NowMs()).failures, 59u);
  EXPECT_FALSE(below.Tripped(clock.NowMs()));  // 59%

  HealthWindow at(Options());
  RecordMany(at, clock.NowMs(), 100, 60);
  EXPECT_TRUE(at.Tripped(clock.NowMs()));  // exactly 60%
  EXPECT_DOUBLE_EQ(at.Totals(clock.NowMs()).ratio(), 0.6);

  // 3 of 5 spread over hours is 60% too.
  HealthWindow spread(Options(5));
  for (int i = 0; i < 5; ++i) {
    spread.Record(clock.NowMs(), i % 2 == 0);
    clock.Advance(2 * kHourMs);
  }
  clock.Advance(-2 * kHourMs);
  EXPECT_EQ(spread.Totals(clock.NowMs()).requests, 5u);
  EXPECT_TRUE(spread.Tripped(clock.NowMs()));
}

TEST(HealthWindowTest, MinRequestsBoundary) {
  FakeClock clock(kStart);
  HealthWindow w(Options(20));
  for (int i = 0; i < 19; ++i) {
    w.Record(clock.NowMs(), true);
    clock.Advance(kMinuteMs);
  }
  EXPECT_EQ(w.Totals(clock.NowMs()).requests, 19u);
  EXPECT_FALSE(w.Tripped(clock.NowMs()));  // 100% failures, but only 19 requests
  w.Record(clock.NowMs(), true);
  EXPECT_TRUE(w.Tripped(clock.NowMs()));
}

TEST(HealthWindowTest, ZeroMinRequestsStillNeedsARequest) {
  HealthWindow w(Options(0));
  EXPECT_FALSE(w.Tripped(kStart));
  w.Record(kStart, true);
  EXPECT_TRUE(w.Tripped(kStart));
}

TEST(HealthWindowTest, BucketSlidesOutAfterTwelveHours) {
  FakeClock clock(kStart);
  HealthWindow w(Options());
  RecordMany(w, clock.NowMs() + 59'999, 30, 30);  // all in the first minute
  // Window: minutes (now_minute - 720, now_minute].
  clock.Set(kStart + (kWindowMinutes - 1) * kMinuteMs + 59'999);
  EXPECT_EQ(w.Totals(clock.NowMs()).requests, 30u);
  EXPECT_TRUE(w.Tripped(clock.NowMs()));
  clock.Set(kStart + kWindowMinutes * kMinuteMs);
  EXPECT_EQ(w.Totals(clock.NowMs()).requests, 0u);
  EXPECT_FALSE(w.Tripped(clock.NowMs()));
}

TEST(HealthWindowTest, RecoversAsFailuresAgeOut) {
  FakeClock clock(kStart);
  HealthWindow w(Options());
  RecordMany(w, clock.NowMs(), 40, 40);  // an outage
  clock.Advance(6 * kHourMs);
  RecordMany(w, clock.NowMs(), 30, 0);  // healthy again: 40/70 = 57%
  EXPECT_FALSE(w.Tripped(clock.NowMs()));
  clock.Advance(6 * kHourMs);  // the outage's minute leaves the window
  HealthTotals t = w.Totals(clock.NowMs());
  EXPECT_EQ(t.requests, 30u);
  EXPECT_EQ(t.failures, 0u);
}

TEST(HealthWindowTest, AddOutsideTheWindowOfTheLatestMinuteIsDropped) {
  HealthWindow w(Options());
  const int64_t m = MinuteOf(kStart);
  w.Add(m, 10, 1);
  w.Add(m - kWindowMinutes, 50, 50);    // just outside (latest - 720)
  w.Add(m - kWindowMinutes + 1, 5, 5);  // just inside
  HealthTotals t = w.Totals(kStart);
  EXPECT_EQ(t.requests, 15u);
  EXPECT_EQ(t.failures, 6u);
}

TEST(HealthWindowTest, ClearForgetsEverything) {
  HealthWindow w(Options());
  RecordMany(w, kStart, 50, 50);
  ASSERT_TRUE(w.Tripped(kStart));
  w.Clear();
  EXPECT_EQ(w.Totals(kStart).requests, 0u);
  EXPECT_FALSE(w.Tripped(kStart));
}

TEST(HealthWindowTest, BucketsAfterNowAreNotCounted) {
  HealthWindow w(Options());
  w.Add(MinuteOf(kStart), 3, 1);
  w.Add(MinuteOf(kStart) + 5, 7, 7);
  EXPECT_EQ(w.Totals(kStart).requests, 3u);  // the clock stepped back
  EXPECT_EQ(w.Totals(kStart + 5 * kMinuteMs).requests, 10u);
}

// The reference: sum over every recorded minute in (m - 720, m].
HealthTotals Reference(const std::map<int64_t, std::pair<uint64_t, uint64_t>>& all,
                       int64_t m) {
  HealthTotals t;
  for (auto it = all.upper_bound(m - kWindowMinutes); it != all.end() && it->first <= m;
       ++it) {
    t.requests += it->second.first;
    t.failures += it->second.second;
  }
  return t;
}

// 36 simulated hours, minute by minute, with sparse traffic and two long
// outages (the rule trips during them and clears after);
// after every minute the live window matches a brute-force sum, and a window
// rebuilt from the stored buckets in shuffled order matches the live one.
TEST(HealthWindowTest, SimulatedDaysMatchReferenceAndRebuild) {
  FakeClock clock(kStart);
  HealthWindow live(Options());
  std::map<int64_t, std::pair<uint64_t, uint64_t>> stored;  // what the stats CF holds
  std::mt19937 rng(12345);
  int trips = 0;
  for (int minute = 0; minute < 36 * 60; ++minute) {
    const int hour = minute / 60;
    const bool outage = (hour >= 4 && hour < 16) || (hour >= 26 && hour < 34);
    const int requests = rng() % 4 == 0 ? 0 : static_cast<int>(rng() % 6);
    for (int i = 0; i < requests; ++i) {
      const TimeMs at = clock.NowMs() + static_cast<TimeMs>(rng() % kMinuteMs);
      const bool failed = rng() % 100 < (outage ? 90u : 10u);
      live.Record(at, failed);
      auto& bucket = stored[MinuteOf(at)];
      bucket.first += 1;
      bucket.second += failed;
    }
    const TimeMs now = clock.NowMs() + kMinuteMs - 1;
    const HealthTotals expected = Reference(stored, MinuteOf(now));
    const HealthTotals got = live.Totals(now);
    ASSERT_EQ(got.requests, expected.requests) << "minute " << minute;
    ASSERT_EQ(got.failures, expected.failures) << "minute " << minute;
    const bool tripped = live.Tripped(now);
    EXPECT_EQ(tripped, expected.requests >= 20 && expected.ratio() >= 0.6) << minute;
    trips += tripped;

    if (minute % 97 == 0) {
      std::vector<std::pair<int64_t, std::pair<uint64_t, uint64_t>>> buckets(
          stored.begin(), stored.end());
      std::shuffle(buckets.begin(), buckets.end(), rng);
      HealthWindow rebuilt(Options());
      for (const auto& [m, counts] : buckets) rebuilt.Add(m, counts.first, counts.second);
      const HealthTotals r = rebuilt.Totals(now);
      ASSERT_EQ(r.requests, got.requests) << "rebuild at minute " << minute;
      ASSERT_EQ(r.failures, got.failures) << "rebuild at minute " << minute;
      EXPECT_EQ(rebuilt.Tripped(now), tripped);
    }
    clock.Advance(kMinuteMs);
  }
  // The scenario must exercise both outcomes, or it proves little.
  EXPECT_GT(trips, 0);
  EXPECT_LT(trips, 36 * 60);
}

}  // namespace
}  // namespace outboxd
