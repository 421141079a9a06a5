#include "outboxd/rfc3339.h"

#include "gtest/gtest.h"

namespace outboxd {
namespace {

// Expected values from python3:
//   python3 -c 'import datetime as d;
//   print(int(d.datetime.fromisoformat(S).timestamp()*1000))'
// with S the same date-time written with a "+00:00" offset instead of "Z".
TEST(Rfc3339Test, ParsesKnownDates) {
  EXPECT_EQ(*ParseRfc3339("2024-05-01T12:00:00Z"), 1714564800000);
  EXPECT_EQ(*ParseRfc3339("2024-05-01T12:00:00.123Z"), 1714564800123);
  EXPECT_EQ(*ParseRfc3339("2024-05-01T14:30:00+02:30"), 1714564800000);
  EXPECT_EQ(*ParseRfc3339("2024-02-29T23:59:59.999-05:00"), 1709269199999);
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseRfc3339("1969-12-31T23:59:59.500Z"), -500);
  EXPECT_EQ(*ParseRfc3339("0001-01-01T00:00:00Z"), -62135596800000);
  EXPECT_EQ(*ParseRfc3339("9999-12-31T23:59:59.999Z"), 253402300799999);
  EXPECT_EQ(*ParseRfc3339("2000-03-01T00:00:00Z"), 951868800000);
}

TEST(Rfc3339Test, AcceptsLowerCaseLongFractionsAndLeapSecond) {
  EXPECT_EQ(*ParseRfc3339("2024-05-01t12:00:00z"), 1714564800000);
  EXPECT_EQ(*ParseRfc3339("2024-05-01T12:00:00.123456789Z"), 1714564800123);
  EXPECT_EQ(*ParseRfc3339("2024-05-01T12:00:00.5Z"), 1714564800500);
  EXPECT_TRUE(ParseRfc3339("2016-12-31T23:59:60Z").ok());
}

TEST(Rfc3339Test, RejectsMalformedAndImpossibleDates) {
  for (const char* bad :
       {"", "2024-05-01", "2024-05-01T12:00:00", "2024-05-01 12:00:00Z",
        "2024-5-01T12:00:00Z", "2024-05-01T12:00Z", "2024-05-01T12:00:00.Z",
        "2024-05-01T12:00:00+0200", "2024-05-01T12:00:00+24:00",
        "2024-05-01T12:00:00Zjunk", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
        "2024-00-10T00:00:00Z", "2024-04-31T00:00:00Z", "2024-05-01T24:00:00Z",
        "2024-05-01T12:60:00Z", "2024-05-01T12:00:61Z", "1714564800",
        "+2024-05-01T12:00:00Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad).ok()) << bad;
  }
}

// python3 -c 'import datetime as d; print(d.datetime.fromtimestamp(MS/1000,
// d.timezone.utc))'
TEST(Rfc3339Test, Formats) {
  EXPECT_EQ(FormatRfc3339(1700000000000), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339(951782400123), "2000-02-29T00:00:00.123Z");
  EXPECT_EQ(FormatRfc3339(INT64_MAX), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339(INT64_MIN), "0000-01-01T00:00:00.000Z");
}

TEST(Rfc3339Test, RoundTrips) {
  for (TimeMs t : {TimeMs{0}, TimeMs{1714564800123}, TimeMs{-62135596800000},
                   TimeMs{253402300799999}, TimeMs{-1}}) {
    EXPECT_EQ(*ParseRfc3339(FormatRfc3339(t)), t) << t;
  }
}

}  // namespace
}  // namespace outboxd
