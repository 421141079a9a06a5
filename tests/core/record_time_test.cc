#include "outboxd/record_time.h"

#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace outboxd {
namespace {

// Expected values: python3 -c "import datetime as d; print(int(round(
//   d.datetime.fromisoformat('<text with Z as +00:00>').timestamp()*1000)))"
TEST(RecordTimeTest, ParsesRfc3339) {
  EXPECT_EQ(ParseRecordTimestamp("2023-11-14T22:13:20Z"), 1'700'000'000'000);
  EXPECT_EQ(ParseRecordTimestamp("2023-11-14t22:13:20z"), 1'700'000'000'000);
  EXPECT_EQ(ParseRecordTimestamp("2023-11-14T22:13:20.123456+01:30"), 1'699'994'600'123);
  EXPECT_EQ(ParseRecordTimestamp("1969-12-31T23:59:59.999Z"), -1);
  // A leap second: python3 gives 1709251199000 for ...23:59:59-00:00; :60 is
  // one second later.
  EXPECT_EQ(ParseRecordTimestamp("2024-02-29T23:59:60-00:00"), 1'709'251'200'000);
}

TEST(RecordTimeTest, RejectsWhatIsNotRfc3339) {
  for (std::string_view bad :
       {"", "2023-11-14", "2023-11-14T22:13:20", "2023-11-14 22:13:20Z", "2023-02-29T00:00:00Z",
        "2023-13-01T00:00:00Z", "2023-11-14T24:00:00Z", "2023-11-14T22:13:20.Z",
        "2023-11-14T22:13:20+0100", "2023-11-14T22:13:20Zjunk", "1700000000"}) {
    EXPECT_FALSE(ParseRecordTimestamp(bad).has_value()) << bad;
  }
}

TEST(RecordTimeTest, ReadsTheTopLevelField) {
  EXPECT_EQ(RecordTime(R"({"id":"a","occurred_at":"2023-11-14T22:13:20Z"})", "occurred_at"),
            1'700'000'000'000);
  EXPECT_EQ(RecordTime(R"({"nested":{"at":"2023-11-14T22:13:21Z"},"at":"2023-11-14T22:13:20Z"})",
                       "at"),
            1'700'000'000'000);
  EXPECT_EQ(RecordTime(R"({"seen":"2023-11-14T22:13:20.5Z"})", "seen"), 1'700'000'000'500);
}

TEST(RecordTimeTest, NoTimeWhenTheFieldIsMissingOrUnusable) {
  const std::string_view field = "occurred_at";
  EXPECT_FALSE(RecordTime(R"({"id":"a"})", field));
  EXPECT_FALSE(RecordTime(R"({"occurred_at":1700000000})", field));
  EXPECT_FALSE(RecordTime(R"({"occurred_at":"yesterday"})", field));
  EXPECT_FALSE(RecordTime(R"({"x":{"occurred_at":"2023-11-14T22:13:20Z"}})", field));
  EXPECT_FALSE(RecordTime(R"(["occurred_at","2023-11-14T22:13:20Z"])", field));
  EXPECT_FALSE(RecordTime("not json", field));
  EXPECT_FALSE(RecordTime(R"({"occurred_at":"2023-11-14T22:13:20Z")", field));
}

TEST(RecordTimeTest, SpanOfRecords) {
  const std::vector<std::string_view> records = {
      R"({"t":"2023-11-14T22:13:20Z"})", R"({"no":"time"})", R"({"t":"2023-11-14T22:43:21Z"})",
      R"({"t":"2023-11-14T22:20:00Z"})"};
  EXPECT_EQ(RecordsTimeSpanMs(records, "t"), 30 * kMinuteMs + kSecondMs);
  EXPECT_EQ(RecordsTimeSpanMs(absl::MakeConstSpan(records).subspan(0, 2), "t"), 0);
  EXPECT_EQ(RecordsTimeSpanMs({}, "t"), 0);
}

}  // namespace
}  // namespace outboxd
