#include "format.h"

#include <string>

#include "api_client.h"
#include "commands.h"
#include "gtest/gtest.h"
#include "integration_view.h"

namespace outboxd::ctl {
namespace {

TEST(TableTest, AlignsColumnsByCharacters) {
  Table t({"ID", "NAME", "STATE"});
  t.AddRow({"1", "Sentinel (demo)", "enabled"});
  t.AddRow({"12", "Größe", "broken"});  // 5 characters, 7 bytes
  t.AddRow({"3"});                      // missing cells are empty
  EXPECT_EQ(t.Render(),
            "ID  NAME             STATE\n"
            "1   Sentinel (demo)  enabled\n"
            "12  Größe            broken\n"
            "3\n");
}

TEST(FormatTest, Durations) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(45'900), "45s");
  EXPECT_EQ(FormatDuration(3 * kMinuteMs + 12 * kSecondMs), "3m12s");
  EXPECT_EQ(FormatDuration(2 * kHourMs + 5 * kMinuteMs), "2h05m");
  EXPECT_EQ(FormatDuration(3 * 24 * kHourMs + 4 * kHourMs), "3d04h");
  EXPECT_EQ(FormatDuration(-90 * kSecondMs), "1m30s");
}

TEST(FormatTest, AgesAndPercent) {
  const TimeMs now = 1'700'000'000'000;
  EXPECT_EQ(FormatAge(now - 12'000, now), "12s ago");
  EXPECT_EQ(FormatAge(now + 185'000, now), "in 3m05s");
  EXPECT_EQ(FormatAge(now + 400, now), "now");
  EXPECT_EQ(FormatPercent(0.125), "12.5");
  EXPECT_EQ(FormatPercent(1), "100.0");
}

TEST(ApiErrorTest, DescribesErrorObjectsAndOtherBodies) {
  EXPECT_EQ(DescribeApiError(
                {400, R"({"error":"must be a positive integer","field":"company_id"})",
                 std::nullopt}),
            "HTTP 400: must be a positive integer (field: company_id)");
  EXPECT_EQ(
      DescribeApiError({400, R"({"error":"bad","line":3,"field":null})", std::nullopt}),
      "HTTP 400: bad (line: 3)");
  EXPECT_EQ(DescribeApiError({502, "<html>bad gateway</html>\n", std::nullopt}),
            "HTTP 502: <html>bad gateway</html>");
  EXPECT_EQ(DescribeApiError({500, "", std::nullopt}), "HTTP 500");
  std::optional<ApiError> e = ParseApiError(R"({"error":"x","line":7,"field":"id"})");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->line, 7);
  EXPECT_EQ(e->field, "id");
  EXPECT_FALSE(ParseApiError("[1]").has_value());
}

TEST(IntegrationViewTest, SelectionSummary) {
  absl::StatusOr<JsonDoc> doc = JsonDoc::Parse(
      R"({"events":{"hits":true,"system":false,"vulnerabilities":["high","low"],
          "rules_and_triggers":true,"scope":false,"triggered":false,"hourly_report":true}})");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(IntegrationSelection(doc->root()),
            "hits,vuln:high+low,rules_and_triggers,hourly_report");
  absl::StatusOr<JsonDoc> none =
      JsonDoc::Parse(R"({"events":{"hits":false,"vulnerabilities":[]}})");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(IntegrationSelection(none->root()), "none");
}

TEST(IntegrationViewTest, DescribeIntegrationAlignsKeys) {
  absl::StatusOr<JsonDoc> doc = JsonDoc::Parse(
      R"({"id":3,"name":"S","table":"","primary_key":"****","events":{"hits":true}})");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(DescribeIntegration(doc->root()),
            "id:          3\n"
            "name:        S\n"
            "table:       -\n"
            "primary_key: ****\n"
            "events:      hits\n");
}

TEST(IntegrationViewTest, DescribeTestResult) {
  absl::StatusOr<JsonDoc> ok = JsonDoc::Parse(
      R"({"ok":true,"status":200,"error_code":"","message":"","latency_ms":12})");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(DescribeTestResult(ok->root()), "test ok: HTTP 200 in 12 ms\n");
  absl::StatusOr<JsonDoc> bad = JsonDoc::Parse(
      R"({"ok":false,"status":403,"error_code":"InvalidAuthorization","message":"bad sig","latency_ms":3})");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(DescribeTestResult(bad->root()),
            "test failed in 3 ms: HTTP 403 InvalidAuthorization: bad sig\n");
  absl::StatusOr<JsonDoc> none = JsonDoc::Parse(
      R"({"ok":false,"status":0,"error_code":"timeout","message":"","latency_ms":5000})");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(DescribeTestResult(none->root()),
            "test failed in 5000 ms: no answer (timeout)\n");
}

}  // namespace
}  // namespace outboxd::ctl
