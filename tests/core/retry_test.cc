#include "outboxd/retry.h"

#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace outboxd {
namespace {

constexpr TimeMs kNow = 1'700'000'000'000;  // Tue, 14 Nov 2023 22:13:20 GMT
constexpr TimeMs kMaxRetryAfter = 24 * kHourMs;

TEST(RetryDelayTest, FullScheduleForFailures1To20) {
  // DESIGN.md "Delivery rules", in seconds.
  const TimeMs expected_s[20] = {
      1,    3,    5,    10,   10,         // cycle 1
      0,    1,    3,    5,    30,         // cycle 2
      60,   60,   180,  300,  600, 1800,  // cycle 3: 1, 1, 3, 5, 10, 30 min
      1800, 1800, 1800, 1800,             // then every 30 min
  };
  for (uint32_t n = 1; n <= 20; ++n) {
    EXPECT_EQ(RetryDelayMs(n), expected_s[n - 1] * 1000) << "failure " << n;
  }
  EXPECT_EQ(RetryDelayMs(0), RetryDelayMs(1));
  EXPECT_EQ(RetryDelayMs(1000), 1800 * 1000);
  EXPECT_EQ(RetryDelayMs(std::numeric_limits<uint32_t>::max()), 1800 * 1000);
}

TEST(ParseRetryAfterTest, DeltaSeconds) {
  EXPECT_EQ(ParseRetryAfter("120", kNow), 120'000);
  EXPECT_EQ(ParseRetryAfter("0", kNow), 0);
  EXPECT_EQ(ParseRetryAfter(" 5\t", kNow), 5'000);
  EXPECT_EQ(ParseRetryAfter("007", kNow), 7'000);
  EXPECT_EQ(ParseRetryAfter("86400", kNow), kMaxRetryAfter);
}

TEST(ParseRetryAfterTest, HugeNumbersAreClampedWithoutOverflow) {
  EXPECT_EQ(ParseRetryAfter("86401", kNow), kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("9223372036854775807", kNow), kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999999999999999999", kNow),
            kMaxRetryAfter);
}

TEST(ParseRetryAfterTest, HttpDateIsRelativeToNow) {
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:14:20 GMT", kNow), 60'000);
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:14:20 GMT", kNow + 250), 59'750);
  EXPECT_EQ(ParseRetryAfter("Wed, 15 Nov 2023 22:13:20 GMT", kNow), kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", kNow), kMaxRetryAfter);
}

TEST(ParseRetryAfterTest, PastOrPresentDateIsZero) {
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:13:20 GMT", kNow), 0);
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:13:19 GMT", kNow), 0);
  EXPECT_EQ(ParseRetryAfter("Thu, 01 Jan 1970 00:00:00 GMT", kNow), 0);
}

TEST(ParseRetryAfterTest, GarbageIsNullopt) {
  for (const char* bad :
       {"", " ", "-5", "+5", "1.5", "5s", "5 6", "abc", "0x10",
        "Tue, 14 Nov 2023 22:14:20", "tomorrow", "Wed, 14 Nov 2023 22:14:20 GMT"}) {
    EXPECT_EQ(ParseRetryAfter(bad, kNow), std::nullopt) << '"' << bad << '"';
  }
}

TEST(NextAttemptTest, FollowsTheSchedule) {
  const RetryPolicy policy;
  for (uint32_t n = 1; n <= 20; ++n) {
    RetryDecision d = NextAttempt(policy, kNow, kNow - kHourMs, n, std::nullopt);
    EXPECT_FALSE(d.dead);
    EXPECT_EQ(d.due_ms, kNow + RetryDelayMs(n)) << n;
  }
}

TEST(NextAttemptTest, LongerRetryAfterWins) {
  RetryDecision d = NextAttempt({}, kNow, kNow, 1, 120'000);  // schedule: 1 s
  EXPECT_FALSE(d.dead);
  EXPECT_EQ(d.due_ms, kNow + 120'000);
}

TEST(NextAttemptTest, ShorterRetryAfterIsIgnored) {
  RetryDecision d = NextAttempt({}, kNow, kNow, 4, 2'000);  // schedule: 10 s
  EXPECT_EQ(d.due_ms, kNow + 10'000);
  d = NextAttempt({}, kNow, kNow, 17, 0);  // schedule: 30 min
  EXPECT_EQ(d.due_ms, kNow + 30 * kMinuteMs);
  d = NextAttempt({}, kNow, kNow, 6, 0);  // schedule: 0 s
  EXPECT_EQ(d.due_ms, kNow);
}

TEST(NextAttemptTest, RetryAfterFromAnHttpDate) {
  std::optional<TimeMs> ra = ParseRetryAfter("Tue, 14 Nov 2023 22:18:20 GMT", kNow);
  RetryDecision d = NextAttempt({}, kNow, kNow, 2, ra);
  EXPECT_EQ(d.due_ms, kNow + 5 * kMinuteMs);
}

TEST(NextAttemptTest, DeadOnlyPastMaxAge) {
  RetryPolicy policy;
  policy.max_age_ms = 2 * kHourMs;
  const TimeMs first = kNow - 2 * kHourMs;
  RetryDecision at_boundary = NextAttempt(policy, kNow, first, 3, std::nullopt);
  EXPECT_FALSE(at_boundary.dead);
  EXPECT_EQ(at_boundary.due_ms, kNow + 5'000);
  EXPECT_TRUE(NextAttempt(policy, kNow + 1, first, 3, std::nullopt).dead);
  EXPECT_TRUE(NextAttempt(policy, kNow + kHourMs, first, 3, 1'000).dead);
}

TEST(NextAttemptTest, DefaultMaxAgeIsSevenDays) {
  EXPECT_EQ(RetryPolicy().max_age_ms, 7 * 24 * kHourMs);
  EXPECT_FALSE(NextAttempt({}, kNow, kNow - 7 * 24 * kHourMs, 20, std::nullopt).dead);
  EXPECT_TRUE(NextAttempt({}, kNow, kNow - 7 * 24 * kHourMs - 1, 20, std::nullopt).dead);
}

TEST(NextAttemptTest, HugeRetryAfterIsClamped) {
  RetryDecision d = NextAttempt({}, kNow, kNow, 1, std::numeric_limits<TimeMs>::max());
  EXPECT_FALSE(d.dead);
  EXPECT_EQ(d.due_ms, kNow + kMaxRetryAfter);
}

}  // namespace
}  // namespace outboxd
