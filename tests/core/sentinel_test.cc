#include "destinations/sentinel.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace outboxd {
namespace {

constexpr char kWorkspace[] = "7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5b";
constexpr TimeMs kNow = 1'700'000'000'000;  // Tue, 14 Nov 2023 22:13:20 GMT

// python3 -c 'import base64; print(base64.b64encode(bytes(range(64))).decode())'
constexpr char kKey[] =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+"
    "Pw==";

IntegrationConfig Config() {
  IntegrationConfig c;
  c.id = 42;
  c.company_id = 7;
  c.kind = IntegrationKind::kSentinel;
  c.workspace_id = kWorkspace;
  c.primary_key = kKey;
  return c;
}

std::unique_ptr<SentinelDestination> Make(const IntegrationConfig& config,
                                          SentinelOptions options = {}) {
  auto dest = SentinelDestination::Create(config, options);
  EXPECT_TRUE(dest.ok()) << dest.status();
  return dest.ok() ? *std::move(dest) : nullptr;
}

std::string HeaderOf(const HttpRequest& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "<absent>";
}

HttpResponse Response(int status, std::string body = "",
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

TEST(BuildJsonArrayBodyTest, JoinsRecordsAsTheyAre) {
  EXPECT_EQ(BuildJsonArrayBody({}), "[]");
  const std::vector<std::string_view> one = {R"({"id":"a"})"};
  EXPECT_EQ(BuildJsonArrayBody(one), R"([{"id":"a"}])");
  const std::vector<std::string_view> three = {R"({"a":1})", R"({"b":[1,2]})",
                                               R"({"c":"x,y"})"};
  EXPECT_EQ(BuildJsonArrayBody(three), R"([{"a":1},{"b":[1,2]},{"c":"x,y"}])");
}

TEST(SentinelUrlTest, PerCloud) {
  IntegrationConfig c = Config();
  const std::pair<const char*, std::string> clouds[] = {
      {"public", "https://7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5b.ods.opinsights.azure.com"},
      {"", "https://7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5b.ods.opinsights.azure.com"},
      {"usgov", "https://7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5b.ods.opinsights.azure.us"},
      {"china", "https://7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5b.ods.opinsights.azure.cn"},
  };
  for (const auto& [cloud, host] : clouds) {
    c.cloud = cloud;
    EXPECT_EQ(SentinelUrl(c).value(), host + "/api/logs?api-version=2016-04-01") << cloud;
    EXPECT_EQ(Make(c)->url(), host + "/api/logs?api-version=2016-04-01") << cloud;
  }
  c.cloud = "germany";
  EXPECT_EQ(SentinelUrl(c).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SentinelDestination::Create(c, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SentinelUrlTest, EndpointOverride) {
  IntegrationConfig c = Config();
  c.endpoint = "http://127.0.0.1:8080";
  EXPECT_EQ(SentinelUrl(c).value(),
            "http://127.0.0.1:8080/api/logs?api-version=2016-04-01");
  c.endpoint = "http://[::1]:9/prefix/";
  c.cloud = "china";  // the endpoint wins
  EXPECT_EQ(SentinelUrl(c).value(),
            "http://[::1]:9/prefix/api/logs?api-version=2016-04-01");
}

TEST(SentinelDestinationTest, RejectsBadConfigs) {
  IntegrationConfig c = Config();
  for (const char* ws : {"", "not-a-guid", "7b6f0e2a5c1d4f3e9a8b0c1d2e3f4a5b",
                         "7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5g",
                         "evil.example/x?7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5b",
                         "7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5b.evil"}) {
    c.workspace_id = ws;
    EXPECT_EQ(SentinelDestination::Create(c, {}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << ws;
  }
  c = Config();
  for (const char* key : {"", "abc", "not base64!!", "AAAA AAAA"}) {
    c.primary_key = key;
    EXPECT_EQ(SentinelDestination::Create(c, {}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << key;
  }
  c = Config();
  c.workspace_id = "7B6F0E2A-5C1D-4F3E-9A8B-0C1D2E3F4A5B";  // upper-case hex is a GUID
  EXPECT_TRUE(SentinelDestination::Create(c, {}).ok());
}

TEST(SentinelDestinationTest, BuildsASignedRequest) {
  IntegrationConfig config = Config();
  auto dest = Make(config);
  const std::vector<std::string_view> records = {R"({"a":1})", R"({"b":2})"};
  int calls = 0;
  absl::StatusOr<HttpRequest> built = absl::UnknownError("not called");
  dest->BuildRequest(BatchView{"new_hits", records}, kNow,
                     [&](absl::StatusOr<HttpRequest> r) {
                       ++calls;
                       built = std::move(r);
                     });
  ASSERT_EQ(calls, 1);  // synchronously, exactly once
  ASSERT_TRUE(built.ok()) << built.status();
  const HttpRequest& r = *built;
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url,
            "https://7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5b.ods.opinsights.azure.com"
            "/api/logs?api-version=2016-04-01");
  EXPECT_EQ(r.body, R"([{"a":1},{"b":2}])");
  EXPECT_EQ(r.tag, 42u);
  EXPECT_EQ(r.timeout_ms, 30 * kSecondMs);
  // Exact header list, in order. Signature over length 17 and the date:
  //   python3 -c 'import hmac,hashlib,base64; k=bytes(range(64));
  //     s="POST\n17\napplication/json\nx-ms-date:Tue, 14 Nov 2023 22:13:20
  //     GMT\n/api/logs";
  //     print(base64.b64encode(hmac.new(k,s.encode(),hashlib.sha256).digest()).decode())'
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"Content-Type", "application/json"},
      {"Log-Type", "new_hits"},
      {"x-ms-date", "Tue, 14 Nov 2023 22:13:20 GMT"},
      {"time-generated-field", "occurred_at"},
      {"Authorization",
       "SharedKey 7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5b:"
       "s2RZU5ljQrEo5LLWdR71iuzomDmAc1J0M6Yqetrfqfk="},
  };
  EXPECT_EQ(r.headers, expected);
}

// Recomputes the signature with OpenSSL directly from the request as sent,
// the way a receiver verifies it, for a body of another length.
TEST(SentinelDestinationTest, SignatureVerifiesLikeAReceiver) {
  auto dest = Make(Config());
  std::string big(100'000, 'x');
  const std::string record = R"({"id":")" + big + R"("})";
  const std::vector<std::string_view> records = {record, record, record};
  absl::StatusOr<HttpRequest> r =
      dest->BuildRequestNow({"vuln_high", records}, kNow + 5 * kHourMs);
  ASSERT_TRUE(r.ok());
  const std::string date = HeaderOf(*r, "x-ms-date");
  EXPECT_EQ(date, "Wed, 15 Nov 2023 03:13:20 GMT");
  const std::string to_sign = "POST\n" + std::to_string(r->body.size()) +
                              "\napplication/json\nx-ms-date:" + date + "\n/api/logs";
  unsigned char key[64];
  ASSERT_EQ(EVP_DecodeBlock(key, reinterpret_cast<const unsigned char*>(kKey), 88),
            66);  // +2 pad
  unsigned char mac[32];
  unsigned int mac_len = 0;
  ASSERT_NE(
      HMAC(EVP_sha256(), key, 64, reinterpret_cast<const unsigned char*>(to_sign.data()),
           to_sign.size(), mac, &mac_len),
      nullptr);
  unsigned char sig[45];
  ASSERT_EQ(EVP_EncodeBlock(sig, mac, 32), 44);
  EXPECT_EQ(HeaderOf(*r, "Authorization"),
            std::string("SharedKey ") + kWorkspace + ":" + reinterpret_cast<char*>(sig));
  EXPECT_EQ(r->body.size(), 3 * record.size() + 4);
}

TEST(SentinelDestinationTest, TimeFieldHeaderFollowsConfig) {
  IntegrationConfig c = Config();
  c.time_field = "detected_at";
  const std::vector<std::string_view> records = {"{}"};
  EXPECT_EQ(HeaderOf(Make(c)->BuildRequestNow({"t", records}, kNow).value(),
                     "time-generated-field"),
            "detected_at");
  c.time_field = "";
  const HttpRequest r = Make(c)->BuildRequestNow({"t", records}, kNow).value();
  EXPECT_EQ(HeaderOf(r, "time-generated-field"), "<absent>");
  EXPECT_EQ(r.headers.size(), 4u);
}

TEST(SentinelDestinationTest, RejectsBadBatches) {
  auto dest = Make(Config());
  const std::vector<std::string_view> records = {"{}"};
  for (const char* bad : {"", "new-hits", "a b", "x_CL;"}) {
    EXPECT_EQ(dest->BuildRequestNow({bad, records}, kNow).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(dest->BuildRequestNow({"new_hits", {}}, kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SentinelDestinationTest, BodyLimit) {
  SentinelOptions options;
  options.max_body_bytes = 17;
  auto dest = Make(Config(), options);
  EXPECT_EQ(dest->limits().max_body_bytes, 17u);
  const std::vector<std::string_view> fits = {R"({"a":1})", R"({"b":2})"};  // 17 bytes
  EXPECT_TRUE(dest->BuildRequestNow({"t", fits}, kNow).ok());
  const std::vector<std::string_view> too_big = {R"({"a":1})", R"({"b":22})"};
  EXPECT_EQ(dest->BuildRequestNow({"t", too_big}, kNow).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST(SentinelDestinationTest, BodyLimitDefaultsAndHardCap) {
  EXPECT_EQ(Make(Config())->limits().max_body_bytes, 8u << 20);
  SentinelOptions options;
  options.max_body_bytes = 0;
  EXPECT_EQ(Make(Config(), options)->limits().max_body_bytes, 8u << 20);
  options.max_body_bytes = 100u << 20;
  EXPECT_EQ(Make(Config(), options)->limits().max_body_bytes, 30'000'000u);
}

TEST(SentinelClassifyTest, Table) {
  auto dest = Make(Config());
  struct Row {
    HttpResponse response;
    Verdict verdict;
    bool failure;
    std::string error_code;
    std::string message;
    std::optional<TimeMs> retry_after;
  };
  HttpResponse timeout;
  timeout.timed_out = true;
  timeout.transport_error = "Timeout was reached";
  HttpResponse refused;
  refused.transport_error = "Couldn't connect to server";
  const Row rows[] = {
      {Response(200), Verdict::kDelivered, false, "", "", std::nullopt},
      {Response(204), Verdict::kDelivered, false, "", "", std::nullopt},
      {Response(400, R"({"Error":"InvalidDataFormat","Message":"Bad JSON"})"),
       Verdict::kRejectRecords, true, "InvalidDataFormat", "Bad JSON", std::nullopt},
      {Response(400, R"({"Error":"InvalidLogType","Message":"bad name"})"),
       Verdict::kRetry, true, "InvalidLogType", "bad name", std::nullopt},
      {Response(403, R"({"Error":"InvalidAuthorization","Message":"An invalid scheme"})"),
       Verdict::kRetry, true, "InvalidAuthorization", "An invalid scheme", std::nullopt},
      {Response(404), Verdict::kRetry, true, "http_404", "", std::nullopt},
      {Response(413, "too large"), Verdict::kSplit, true, "http_413", "too large",
       std::nullopt},
      {Response(429, "", {{"retry-after", "17"}}), Verdict::kRetry, true, "http_429", "",
       17'000},
      {Response(503, R"({"Error":"ServiceUnavailable","Message":"busy"})",
                {{"retry-after", "Tue, 14 Nov 2023 22:15:20 GMT"}}),
       Verdict::kRetry, true, "ServiceUnavailable", "busy", 120'000},
      {Response(500, "<html>\r\n<b>Bad\tGateway</b></html>"), Verdict::kRetry, true,
       "http_500", "<html>  <b>Bad Gateway</b></html>", std::nullopt},
      {Response(502, "", {{"retry-after", "soon"}}), Verdict::kRetry, true, "http_502",
       "", std::nullopt},
      {timeout, Verdict::kRetry, true, "timeout", "Timeout was reached", std::nullopt},
      {refused, Verdict::kRetry, true, "transport_error", "Couldn't connect to server",
       std::nullopt},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(testing::Message()
                 << "status " << row.response.status << " body " << row.response.body);
    const Answer a = dest->Classify(row.response, kNow);
    EXPECT_EQ(a.verdict, row.verdict);
    EXPECT_EQ(a.counts_as_failure, row.failure);
    EXPECT_EQ(a.error_code, row.error_code);
    EXPECT_EQ(a.message, row.message);
    EXPECT_EQ(a.retry_after_ms, row.retry_after);
  }
}

TEST(SentinelClassifyTest, ToleratesGarbageBodies) {
  auto dest = Make(Config());
  const std::string huge(1 << 20, '{');
  for (std::string body :
       {std::string("{"), std::string(R"({"Error":)"), std::string("[1,2]"),
        std::string(R"({"Error":5,"Message":"m"})"), std::string(R"("x")"),
        std::string(R"({"Error":"A","Message":)"), std::string("\xff\xfe"),
        std::string(R"({"Error":"InvalidDataFormat")"), std::string("null"),
        std::string(R"({"Message":"only"})"), huge}) {
    const Answer a = dest->Classify(Response(400, body), kNow);
    // Never a reject without a well-formed InvalidDataFormat answer.
    EXPECT_EQ(a.verdict, Verdict::kRetry) << body.substr(0, 40);
    EXPECT_TRUE(a.counts_as_failure);
    EXPECT_FALSE(a.error_code.empty());
    EXPECT_LE(a.message.size(), 256u);
  }
}

TEST(SentinelClassifyTest, ErrorCodeFromFieldsInAnyOrder) {
  auto dest = Make(Config());
  const Answer a = dest->Classify(
      Response(
          400,
          R"( {"Message":"x\"y","Other":{"Error":"nested"},"Error":"InvalidDataFormat"} )"),
      kNow);
  EXPECT_EQ(a.verdict, Verdict::kRejectRecords);
  EXPECT_EQ(a.error_code, "InvalidDataFormat");
  EXPECT_EQ(a.message, "x\"y");
}

}  // namespace
}  // namespace outboxd
