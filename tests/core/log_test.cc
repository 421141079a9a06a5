#include "outboxd/log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace outboxd {
namespace {

TEST(LogFormatTest, QuotesValuesThatWouldBreakTheLine) {
  std::string line = FormatLogFields(LogLevel::kError, "ingest write failed",
                                     {{"error", "IO error: No space left"}, {"records", 3}});
  EXPECT_EQ(line,
            R"(level=error msg="ingest write failed" error="IO error: No space left" records=3)");
}

TEST(LogThrottleTest, OneLinePerIntervalWithTheCountLeftOut) {
  LogThrottle throttle(10'000);
  uint64_t suppressed = 99;
  ASSERT_TRUE(throttle.Allow(1'000, &suppressed));
  EXPECT_EQ(suppressed, 0u);
  for (int64_t t = 1'000; t < 11'000; t += 1'000) EXPECT_FALSE(throttle.Allow(t, &suppressed));
  ASSERT_TRUE(throttle.Allow(11'000, &suppressed));
  EXPECT_EQ(suppressed, 10u);
  // Quiet for a while: the next line goes through at once, nothing left out.
  ASSERT_TRUE(throttle.Allow(60'000, &suppressed));
  EXPECT_EQ(suppressed, 0u);
}

TEST(LogThrottleTest, ResetEndsTheEpisodeAndReturnsWhatWasLeftOut) {
  LogThrottle throttle(10'000);
  uint64_t suppressed = 0;
  ASSERT_TRUE(throttle.Allow(0, &suppressed));
  EXPECT_FALSE(throttle.Allow(1'000, &suppressed));
  EXPECT_FALSE(throttle.Allow(2'000, &suppressed));
  EXPECT_EQ(throttle.Reset(), 2u);
  // Inside the old interval, yet the next line goes through at once.
  ASSERT_TRUE(throttle.Allow(3'000, &suppressed));
  EXPECT_EQ(suppressed, 0u);
  EXPECT_EQ(throttle.Reset(), 0u);
}

TEST(LogThrottleTest, ConcurrentCallersLetExactlyOneLineThrough) {
  LogThrottle throttle(1'000'000);
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 1000; ++j) {
        uint64_t suppressed = 0;
        if (throttle.Allow(5, &suppressed)) allowed.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 1);
  uint64_t suppressed = 0;
  ASSERT_TRUE(throttle.Allow(2'000'000, &suppressed));
  EXPECT_EQ(suppressed, 7999u);
}

}  // namespace
}  // namespace outboxd
