#include "destinations/sentinel_dcr.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "destinations/gzip.h"
#include "fakes/scripted_transport.h"
#include "gtest/gtest.h"

namespace outboxd {
namespace {

constexpr TimeMs kNow = 1'700'000'000'000;
constexpr char kTokenUrl[] =
    "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token";

IntegrationConfig DcrConfig() {
  IntegrationConfig c;
  c.id = 77;
  c.kind = IntegrationKind::kSentinelDcr;
  c.tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47";
  c.client_id = "11111111-2222-3333-4444-555555555555";
  c.client_secret = "secret";
  c.dce_endpoint = "https://my-dce-abcd.westeurope-1.ingest.monitor.azure.com/";
  c.dcr_immutable_id = "dcr-0123456789abcdef0123456789abcdef";
  c.stream = "Custom-Outboxd_CL";
  return c;
}

HttpResponse Response(int status, std::string body = {},
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse r = ScriptedTransport::Status(status, std::move(body));
  r.headers = std::move(headers);
  return r;
}

HttpResponse TokenAnswer(std::string token) {
  return Response(200, R"({"token_type":"Bearer","expires_in":3599,"access_token":")" + token +
                           R"("})");
}

std::map<std::string, std::string> Headers(const HttpRequest& r) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : r.headers) out[k] = v;
  return out;
}

class SentinelDcrTest : public ::testing::Test {
 protected:
  SentinelDcrTest() : clock_(kNow) {}

  std::unique_ptr<SentinelDcrDestination> Make(const IntegrationConfig& config = DcrConfig()) {
    SentinelDcrOptions options;
    options.transport = &transport_;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<SentinelDcrDestination>> dest =
        SentinelDcrDestination::Create(config, options);
    EXPECT_TRUE(dest.ok()) << dest.status();
    return dest.ok() ? *std::move(dest) : nullptr;
  }

  // BuildRequest's result, or nullopt while it waits for a token.
  std::optional<absl::StatusOr<HttpRequest>> Build(Destination& dest,
                                                   const std::vector<std::string_view>& records,
                                                   std::optional<absl::StatusOr<HttpRequest>>* out) {
    dest.BuildRequest({"create_user", records}, clock_.NowMs(),
                      [out](absl::StatusOr<HttpRequest> r) { *out = std::move(r); });
    return *out;
  }

  FakeClock clock_;
  ScriptedTransport transport_;
};

TEST(DcrIngestionUrlTest, Format) {
  absl::StatusOr<std::string> url = DcrIngestionUrl(DcrConfig());
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(*url,
            "https://my-dce-abcd.westeurope-1.ingest.monitor.azure.com/dataCollectionRules/"
            "dcr-0123456789abcdef0123456789abcdef/streams/Custom-Outboxd_CL"
            "?api-version=2023-01-01");
  IntegrationConfig c = DcrConfig();
  c.dce_endpoint = "http://127.0.0.1:8080";
  c.stream = "Custom-A B";
  EXPECT_EQ(DcrIngestionUrl(c).value(),
            "http://127.0.0.1:8080/dataCollectionRules/dcr-0123456789abcdef0123456789abcdef/"
            "streams/Custom-A%20B?api-version=2023-01-01");
}

TEST(SentinelDcrCreateTest, RejectsUnusableConfigs) {
  ScriptedTransport transport;
  SentinelDcrOptions options;
  options.transport = &transport;
  auto code = [&](IntegrationConfig c) {
    return SentinelDcrDestination::Create(c, options).status().code();
  };
  EXPECT_EQ(code(DcrConfig()), absl::StatusCode::kOk);
  for (std::string IntegrationConfig::*field :
       {&IntegrationConfig::tenant_id, &IntegrationConfig::client_id,
        &IntegrationConfig::client_secret, &IntegrationConfig::dce_endpoint,
        &IntegrationConfig::dcr_immutable_id, &IntegrationConfig::stream}) {
    IntegrationConfig c = DcrConfig();
    c.*field = "";
    EXPECT_EQ(code(c), absl::StatusCode::kInvalidArgument);
  }
  IntegrationConfig c = DcrConfig();
  c.dce_endpoint = "ftp://example.com";
  EXPECT_EQ(code(c), absl::StatusCode::kInvalidArgument);
  c = DcrConfig();
  c.authority = "login.microsoftonline.com";
  EXPECT_EQ(code(c), absl::StatusCode::kInvalidArgument);
  c = DcrConfig();
  c.cloud = "mars";
  EXPECT_EQ(code(c), absl::StatusCode::kInvalidArgument);
  options.transport = nullptr;
  EXPECT_EQ(code(DcrConfig()), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SentinelDcrTest, Limits) {
  auto dest = Make();
  EXPECT_EQ(dest->limits().max_body_bytes, 999'000u);
  EXPECT_EQ(dest->limits().max_time_span_ms, 30 * kMinuteMs);
  EXPECT_EQ(dest->limits().time_field, "occurred_at");  // the config's default
  SentinelDcrOptions options;
  options.transport = &transport_;
  options.max_body_bytes = 5000;
  EXPECT_EQ(SentinelDcrDestination::Create(DcrConfig(), options).value()->limits().max_body_bytes,
            5000u);
  options.max_body_bytes = 8 << 20;
  EXPECT_EQ(SentinelDcrDestination::Create(DcrConfig(), options).value()->limits().max_body_bytes,
            999'000u);
}

TEST_F(SentinelDcrTest, BuildsAGzippedRequestOnceItHasAToken) {
  auto dest = Make();
  const std::vector<std::string_view> records = {R"({"id":"a","n":1})", R"({"id":"b","n":2})"};
  std::optional<absl::StatusOr<HttpRequest>> built;
  EXPECT_FALSE(Build(*dest, records, &built).has_value());  // waits for the token
  ASSERT_EQ(transport_.pending().size(), 1u);
  EXPECT_EQ(transport_.pending()[0].request.url, kTokenUrl);
  transport_.Complete(0, TokenAnswer("tok-1"));
  ASSERT_TRUE(built.has_value());
  ASSERT_TRUE(built->ok()) << built->status();
  const HttpRequest& r = **built;
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, DcrIngestionUrl(DcrConfig()).value());
  EXPECT_EQ(r.tag, 77u);
  EXPECT_EQ(r.timeout_ms, 30 * kSecondMs);
  std::map<std::string, std::string> headers = Headers(r);
  EXPECT_EQ(headers["Authorization"], "Bearer tok-1");
  EXPECT_EQ(headers["Content-Type"], "application/json");
  EXPECT_EQ(headers["Content-Encoding"], "gzip");
  EXPECT_EQ(headers.size(), 3u);
  absl::StatusOr<std::string> json = GzipDecompress(r.body, 1 << 20);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, R"([{"id":"a","n":1},{"id":"b","n":2}])");
}

TEST_F(SentinelDcrTest, ACachedTokenBuildsInsideTheCall) {
  auto dest = Make();
  const std::vector<std::string_view> records = {R"({"id":"a"})"};
  std::optional<absl::StatusOr<HttpRequest>> first, second;
  Build(*dest, records, &first);
  transport_.Complete(0, TokenAnswer("tok-1"));
  ASSERT_TRUE(Build(*dest, records, &second).has_value());
  EXPECT_EQ(Headers(second->value())["Authorization"], "Bearer tok-1");
  EXPECT_EQ(transport_.sent().size(), 1u);
}

TEST_F(SentinelDcrTest, ManyRequestsShareOneTokenFetch) {
  auto dest = Make();
  const std::vector<std::string_view> records = {R"({"id":"a"})"};
  std::vector<std::optional<absl::StatusOr<HttpRequest>>> built(50);
  for (auto& b : built) Build(*dest, records, &b);
  EXPECT_EQ(transport_.pending().size(), 1u);
  transport_.Complete(0, TokenAnswer("tok-1"));
  for (const auto& b : built) {
    ASSERT_TRUE(b.has_value() && b->ok());
    EXPECT_EQ(Headers(**b)["Authorization"], "Bearer tok-1");
  }
}

TEST_F(SentinelDcrTest, AFailingTokenEndpointFailsTheRequest) {
  auto dest = Make();
  const std::vector<std::string_view> records = {R"({"id":"a"})"};
  std::optional<absl::StatusOr<HttpRequest>> built;
  Build(*dest, records, &built);
  transport_.Complete(0, Response(400, R"({"error":"invalid_request","error_description":)"
                                       R"("AADSTS90002: Tenant not found."})"));
  ASSERT_TRUE(built.has_value());
  EXPECT_EQ(built->status().code(), absl::StatusCode::kUnauthenticated);
  // The dispatcher reports an unbuilt request as an answer without status.
  HttpResponse failed;
  failed.transport_error = "request not built: " + std::string(built->status().message());
  const Answer a = dest->Classify(failed, kNow);
  EXPECT_EQ(a.verdict, Verdict::kRetry);
  EXPECT_TRUE(a.counts_as_failure);
  EXPECT_EQ(a.error_code, "token_request_failed");
  EXPECT_EQ(a.message,
            "request not built: token request failed: 400 invalid_request: AADSTS90002: Tenant "
            "not found.");
}

TEST_F(SentinelDcrTest, BodyLimitAndEmptyBatch) {
  SentinelDcrOptions options;
  options.transport = &transport_;
  options.clock = &clock_;
  options.max_body_bytes = 20;
  auto dest = SentinelDcrDestination::Create(DcrConfig(), options).value();
  std::optional<absl::StatusOr<HttpRequest>> built;
  const std::vector<std::string_view> too_big = {R"({"id":"a"})", R"({"id":"b"})"};  // 23 bytes
  ASSERT_TRUE(Build(*dest, too_big, &built).has_value());
  EXPECT_EQ(built->status().code(), absl::StatusCode::kOutOfRange);
  built.reset();
  ASSERT_TRUE(Build(*dest, {}, &built).has_value());
  EXPECT_EQ(built->status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(transport_.sent().empty());  // no token was needed to say no
}

TEST_F(SentinelDcrTest, UnauthorizedDropsTheTokenSoTheNextRequestFetchesANewOne) {
  for (int status : {401, 403}) {
    auto dest = Make();
    const std::vector<std::string_view> records = {R"({"id":"a"})"};
    std::optional<absl::StatusOr<HttpRequest>> built;
    Build(*dest, records, &built);
    transport_.Complete(0, TokenAnswer("tok-old"));
    clock_.Advance(kSecondMs);
    HttpResponse refused = Response(status, R"({"error":{"code":"InvalidToken","message":"no"}})");
    refused.latency_ms = 200;
    const Answer a = dest->Classify(refused, clock_.NowMs());
    EXPECT_EQ(a.verdict, Verdict::kRetry);
    EXPECT_TRUE(a.counts_as_failure);
    EXPECT_EQ(a.error_code, "InvalidToken");
    built.reset();
    EXPECT_FALSE(Build(*dest, records, &built).has_value()) << status;
    ASSERT_EQ(transport_.pending().size(), 1u);
    transport_.Complete(0, TokenAnswer("tok-new"));
    EXPECT_EQ(Headers(built->value())["Authorization"], "Bearer tok-new");
  }
}

TEST_F(SentinelDcrTest, ClassifyTable) {
  auto dest = Make();
  struct Row {
    HttpResponse response;
    Verdict verdict;
    bool failure;
    std::string code;
    std::string message;
    std::optional<TimeMs> retry_after;
  };
  HttpResponse timeout;
  timeout.timed_out = true;
  timeout.transport_error = "Operation timed out after 30000 ms";
  HttpResponse refused;
  refused.transport_error = "Connection refused";
  const std::string time_range =
      R"({"error":{"code":"RecordsTimeRangeIsMoreThan30Minutes","message":"span"}})";
  const std::vector<Row> rows = {
      {Response(204), Verdict::kDelivered, false, "", "", std::nullopt},
      {Response(200), Verdict::kDelivered, false, "", "", std::nullopt},
      {Response(413, R"({"error":{"code":"ContentLengthLimitExceeded","message":"big"}})"),
       Verdict::kSplit, false, "ContentLengthLimitExceeded", "big", std::nullopt},
      {Response(413), Verdict::kSplit, false, "http_413", "", std::nullopt},
      {Response(400, time_range), Verdict::kSplit, false, "RecordsTimeRangeIsMoreThan30Minutes",
       "span", std::nullopt},
      {Response(400, "", {{"x-ms-error-code", "RecordsTimeRangeIsMoreThan30Minutes"}}),
       Verdict::kSplit, false, "RecordsTimeRangeIsMoreThan30Minutes", "", std::nullopt},
      {Response(429, R"({"error":{"code":"TooManyRequests","message":"slow down"}})",
                {{"retry-after", "17"}}),
       Verdict::kRetry, true, "TooManyRequests", "slow down", 17 * kSecondMs},
      {Response(503, "", {{"retry-after", "Tue, 14 Nov 2023 22:14:20 GMT"}}), Verdict::kRetry,
       true, "http_503", "", 60 * kSecondMs},
      {Response(400, R"({"error":{"message":"m","code":"InvalidStream"}})"), Verdict::kRetry,
       true, "InvalidStream", "m", std::nullopt},
      {Response(404, "", {{"x-ms-error-code", "NotFound"}}), Verdict::kRetry, true, "NotFound",
       "", std::nullopt},
      {Response(502, "<html>Bad\ngateway</html>"), Verdict::kRetry, true, "http_502",
       "<html>Bad gateway</html>", std::nullopt},
      {timeout, Verdict::kRetry, true, "timeout", "Operation timed out after 30000 ms",
       std::nullopt},
      {refused, Verdict::kRetry, true, "transport_error", "Connection refused", std::nullopt},
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    const Answer a = dest->Classify(row.response, kNow);
    EXPECT_EQ(a.verdict, row.verdict) << "row " << i;
    EXPECT_EQ(a.counts_as_failure, row.failure) << "row " << i;
    EXPECT_EQ(a.error_code, row.code) << "row " << i;
    EXPECT_EQ(a.message, row.message) << "row " << i;
    EXPECT_EQ(a.retry_after_ms, row.retry_after) << "row " << i;
  }
}

TEST(RatePacerTest, BurstThenSteadyRate) {
  RatePacer pacer(12'000, 2'000'000'000, kNow);
  for (int i = 0; i < 1200; ++i) ASSERT_FALSE(pacer.Take(100, kNow).has_value()) << i;
  std::optional<TimeMs> wait = pacer.Take(100, kNow);
  ASSERT_TRUE(wait.has_value());
  // 90% of 12,000 a minute: one request per 5.56 ms.
  EXPECT_EQ(*wait, 6);
  EXPECT_TRUE(pacer.Take(100, kNow + 5).has_value());
  EXPECT_FALSE(pacer.Take(100, kNow + 6).has_value());
}

TEST(RatePacerTest, BytesBucket) {
  RatePacer pacer(12'000, 2'000'000'000, kNow);
  // A tenth of 2 GB at once: 200 requests of 1 MB.
  for (int i = 0; i < 200; ++i) ASSERT_FALSE(pacer.Take(1'000'000, kNow).has_value()) << i;
  std::optional<TimeMs> wait = pacer.Take(1'000'000, kNow);
  ASSERT_TRUE(wait.has_value());
  // 1.8 GB a minute = 30,000 bytes per ms.
  EXPECT_EQ(*wait, 34);
  EXPECT_FALSE(pacer.Take(1'000'000, kNow + 34).has_value());
}

// Whatever the demand, no sliding minute carries more than the limits, and
// the pacer still lets nearly all of them through.
TEST(RatePacerTest, NoMinuteExceedsTheLimit) {
  RatePacer pacer(12'000, 2'000'000'000, kNow);
  std::vector<TimeMs> sent;
  TimeMs t = kNow;
  const TimeMs end = kNow + 3 * kMinuteMs;
  while (t < end) {
    std::optional<TimeMs> wait = pacer.Take(50'000, t);
    if (wait.has_value()) {
      ASSERT_GE(*wait, 1);
      t += *wait;
    } else {
      sent.push_back(t);
    }
  }
  size_t most = 0;
  for (size_t lo = 0, hi = 0; hi < sent.size(); ++hi) {
    while (sent[hi] - sent[lo] >= kMinuteMs) ++lo;
    most = std::max(most, hi - lo + 1);
  }
  EXPECT_LE(most, 12'000u);
  EXPECT_GE(most, 11'900u);
  EXPECT_GE(sent.size(), 33'000u);  // 1,200 + 3 min at 10,800 a minute
}

TEST_F(SentinelDcrTest, PaceDelayUsesTheRulesLimits) {
  auto dest = Make();
  for (int i = 0; i < 1200; ++i) ASSERT_FALSE(dest->PaceDelay(1000, kNow).has_value());
  EXPECT_TRUE(dest->PaceDelay(1000, kNow).has_value());
}

// Azure's limits are per rule: integrations sending to one rule (any
// stream) share its allowance; another rule has its own.
TEST_F(SentinelDcrTest, IntegrationsOfOneRuleShareItsPacing) {
  RatePacers pacers;
  auto make = [&](uint64_t id, const std::string& rule, const std::string& stream) {
    IntegrationConfig c = DcrConfig();
    c.id = id;
    c.dcr_immutable_id = rule;
    c.stream = stream;
    SentinelDcrOptions options;
    options.transport = &transport_;
    options.clock = &clock_;
    options.pacers = &pacers;
    return SentinelDcrDestination::Create(c, options).value();
  };
  auto a = make(1, "dcr-a", "Custom-One_CL");
  auto b = make(2, "dcr-a", "Custom-Two_CL");
  auto other = make(3, "dcr-b", "Custom-One_CL");
  for (int i = 0; i < 600; ++i) {
    ASSERT_FALSE(a->PaceDelay(1000, kNow).has_value());
    ASSERT_FALSE(b->PaceDelay(1000, kNow).has_value());
  }
  EXPECT_TRUE(a->PaceDelay(1000, kNow).has_value());
  EXPECT_TRUE(b->PaceDelay(1000, kNow).has_value());
  EXPECT_FALSE(other->PaceDelay(1000, kNow).has_value());
  // Rebuilt (a reconfigured integration), it keeps the rule's history.
  a.reset();
  auto again = make(1, "dcr-a", "Custom-One_CL");
  EXPECT_TRUE(again->PaceDelay(1000, kNow).has_value());
}

}  // namespace
}  // namespace outboxd
