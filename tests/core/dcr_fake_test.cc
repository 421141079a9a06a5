// tools/fake_sentinel's Logs Ingestion half (dcr.h), without the network.
#include "dcr.h"

#include <string>

#include "destinations/gzip.h"
#include "gtest/gtest.h"

namespace outboxd::fake_sentinel {
namespace {

constexpr TimeMs kNow = 1'700'000'000'000;  // 2023-11-14T22:13:20Z
constexpr char kClient[] = "11111111-2222-3333-4444-555555555555";
constexpr char kTokenPath[] = "/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token";
constexpr char kForm[] = "application/x-www-form-urlencoded";
constexpr char kIngestTarget[] =
    "/dataCollectionRules/dcr-0123/streams/Custom-Outboxd_CL?api-version=2023-01-01";

std::string Form(std::string secret, std::string scope = "https%3A%2F%2Fmonitor.azure.com%2F%2F.default") {
  return "grant_type=client_credentials&client_id=" + std::string(kClient) +
         "&client_secret=" + secret + "&scope=" + scope;
}

class DcrServiceTest : public ::testing::Test {
 protected:
  DcrServiceTest() : dcr_(Config(), 1) {}
  static DcrConfig Config() {
    DcrConfig config;
    EXPECT_TRUE(AddDcrClient(std::string(kClient) + "=s3cr3t +/=", &config).ok());
    config.token_ttl_ms = 60 * kSecondMs;
    return config;
  }
  // A token issued at `now`.
  std::string Issue(TimeMs now) {
    DcrAnswer a = dcr_.Token("POST", kTokenPath, kForm, Form("s3cr3t%20%2B%2F%3D"), now);
    EXPECT_EQ(a.status, 200) << a.body;
    const size_t at = a.body.find("\"access_token\":\"");
    if (at == std::string::npos) return "";
    const size_t start = at + 16;
    return a.body.substr(start, a.body.find('"', start) - start);
  }
  DcrRequest Ingest(const std::string& token, std::string_view body,
                    std::string_view encoding = "gzip") {
    authorization_ = "Bearer " + token;
    DcrRequest r;
    r.method = "POST";
    r.target = kIngestTarget;
    r.authorization = authorization_;
    r.content_type = "application/json";
    r.content_encoding = encoding;
    r.body = body;
    return r;
  }

  DcrService dcr_;
  std::string authorization_;
};

TEST(DcrRoutesTest, Paths) {
  EXPECT_EQ(DcrTokenTenant(kTokenPath), "72f988bf-86f1-41af-91ab-2d7cd011db47");
  EXPECT_EQ(DcrTokenTenant("/contoso.onmicrosoft.com/oauth2/v2.0/token"),
            "contoso.onmicrosoft.com");
  EXPECT_FALSE(DcrTokenTenant("/oauth2/v2.0/token"));
  EXPECT_FALSE(DcrTokenTenant("/a/b/oauth2/v2.0/token"));
  EXPECT_FALSE(DcrTokenTenant("/api/logs"));
  EXPECT_TRUE(IsDcrIngestPath("/dataCollectionRules/dcr-1/streams/Custom-X"));
  EXPECT_FALSE(IsDcrIngestPath("/dataCollectionRules/dcr-1/streams/"));
  EXPECT_FALSE(IsDcrIngestPath("/dataCollectionRules//streams/Custom-X"));
  EXPECT_FALSE(IsDcrIngestPath("/dataCollectionRules/dcr-1/streams/Custom-X/more"));
  EXPECT_FALSE(IsDcrIngestPath("/api/logs"));
}

TEST(DcrRoutesTest, FormDecodeAndGunzip) {
  EXPECT_EQ(FormDecode("a+b%2Fc%3d"), "a b/c=");
  EXPECT_FALSE(FormDecode("bad%2"));
  EXPECT_FALSE(FormDecode("bad%zz"));
  // python3 -c "import gzip,sys; sys.stdout.buffer.write(gzip.compress(
  //   b'[{\"id\":\"a\",\"occurred_at\":\"2023-11-14T22:13:20Z\"}]', mtime=0))" | xxd -i
  const unsigned char kGzip[] = {
      0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x8b, 0xae, 0x56, 0xca,
      0x4c, 0x51, 0xb2, 0x52, 0x4a, 0x54, 0xd2, 0x51, 0xca, 0x4f, 0x4e, 0x2e, 0x2d, 0x2a,
      0x4a, 0x4d, 0x89, 0x4f, 0x2c, 0x01, 0x8a, 0x18, 0x19, 0x18, 0x19, 0xeb, 0x1a, 0x1a,
      0xea, 0x1a, 0x9a, 0x84, 0x18, 0x19, 0x59, 0x19, 0x1a, 0x5b, 0x19, 0x19, 0x44, 0x29,
      0xd5, 0xc6, 0x02, 0x00, 0xd6, 0xc9, 0xb7, 0x33, 0x31, 0x00, 0x00, 0x00};
  bool too_large = false;
  std::optional<std::string> data = Gunzip(
      std::string_view(reinterpret_cast<const char*>(kGzip), sizeof(kGzip)), 1000, &too_large);
  ASSERT_TRUE(data.has_value());
  EXPECT_EQ(*data, R"([{"id":"a","occurred_at":"2023-11-14T22:13:20Z"}])");
  EXPECT_FALSE(Gunzip(std::string_view(reinterpret_cast<const char*>(kGzip), sizeof(kGzip)),
                      10, &too_large));
  EXPECT_TRUE(too_large);
  EXPECT_FALSE(Gunzip("not gzip", 1000, &too_large));
  EXPECT_FALSE(too_large);
}

TEST_F(DcrServiceTest, IssuesTokens) {
  DcrAnswer a = dcr_.Token("POST", kTokenPath, kForm, Form("s3cr3t%20%2B%2F%3D"), kNow);
  EXPECT_EQ(a.status, 200);
  EXPECT_NE(a.body.find(R"("token_type":"Bearer","expires_in":60,)"), std::string::npos)
      << a.body;
  EXPECT_EQ(dcr_.tokens_issued(), 1u);
  EXPECT_NE(Issue(kNow), Issue(kNow));
}

TEST_F(DcrServiceTest, RefusesBadTokenRequests) {
  struct Row {
    std::string method, content_type, body;
    int status;
    std::string error;
  };
  const Row rows[] = {
      {"GET", kForm, Form("s3cr3t%20%2B%2F%3D"), 400, "invalid_request"},
      {"POST", "application/json", Form("s3cr3t%20%2B%2F%3D"), 400, "invalid_request"},
      {"POST", kForm, "grant_type=password&client_id=x", 400, "unsupported_grant_type"},
      {"POST", kForm, Form("s3cr3t%20%2B%2F%3D", "https%3A%2F%2Fgraph.microsoft.com%2F.default"),
       400, "invalid_scope"},
      {"POST", kForm, Form("wrong"), 401, "invalid_client"},
      {"POST", kForm,
       "grant_type=client_credentials&client_id=other&client_secret=x&scope=https%3A%2F%2F"
       "monitor.azure.com%2F%2F.default",
       401, "invalid_client"},
  };
  for (const Row& row : rows) {
    DcrAnswer a = dcr_.Token(row.method, kTokenPath, row.content_type, row.body, kNow);
    EXPECT_EQ(a.status, row.status) << row.body;
    EXPECT_EQ(a.code, row.error) << row.body;
    EXPECT_NE(a.body.find("\"error_description\":\"AADSTS"), std::string::npos) << a.body;
  }
  EXPECT_EQ(dcr_.tokens_issued(), 0u);
}

TEST(DcrServiceFailTest, TokenFailRate) {
  DcrConfig config;
  ASSERT_TRUE(AddDcrClient("c=s", &config).ok());
  config.token_fail_rate = 1;
  DcrService dcr(config, 1);
  DcrAnswer a = dcr.Token("POST", kTokenPath, kForm,
                          "grant_type=client_credentials&client_id=c&client_secret=s&scope="
                          "https%3A%2F%2Fmonitor.azure.us%2F%2F.default",
                          kNow);
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.code, "temporarily_unavailable");
  EXPECT_FALSE(AddDcrClient("no-secret=", &config).ok());
  EXPECT_FALSE(AddDcrClient("=secret", &config).ok());
}

TEST_F(DcrServiceTest, AcceptsGzipAndPlainJson) {
  const std::string token = Issue(kNow);
  const std::string json =
      R"([{"id":"a","occurred_at":"2023-11-14T22:13:20Z"}, {"id":"b","occurred_at":"2023-11-14T22:43:20Z"}])";
  const std::string gz = GzipCompress(json).value();
  DcrAnswer a = dcr_.Ingest(Ingest(token, gz), kNow + 1000);
  EXPECT_EQ(a.status, 204) << a.body;
  EXPECT_TRUE(a.body.empty());
  EXPECT_EQ(a.rule, "dcr-0123");
  EXPECT_EQ(a.stream, "Custom-Outboxd_CL");
  ASSERT_EQ(a.records.size(), 2u);
  EXPECT_EQ(a.records[1], R"({"id":"b","occurred_at":"2023-11-14T22:43:20Z"})");
  EXPECT_EQ(dcr_.Ingest(Ingest(token, json, ""), kNow).status, 204);
}

TEST_F(DcrServiceTest, Refusals) {
  const std::string token = Issue(kNow);
  const std::string ok_json = R"([{"id":"a"}])";
  const std::string gz = GzipCompress(ok_json).value();
  auto check = [&](DcrRequest r, TimeMs now, int status, const std::string& code) {
    DcrAnswer a = dcr_.Ingest(r, now);
    EXPECT_EQ(a.status, status) << code;
    EXPECT_EQ(a.code, code);
    if (status != 204) {
      EXPECT_EQ(a.body, DcrErrorBody(code, a.message));
      EXPECT_EQ(a.body.rfind(R"({"error":{"code":")", 0), 0u) << a.body;
    }
  };
  DcrRequest r = Ingest(token, gz);
  check(r, kNow, 204, "");
  r.method = "PUT";
  check(r, kNow, 405, "MethodNotAllowed");
  r = Ingest(token, gz);
  r.target = "/dataCollectionRules/dcr-0123/streams/Custom-Outboxd_CL?api-version=2021-11-01";
  check(r, kNow, 400, "InvalidApiVersion");
  r = Ingest(token, gz);
  r.authorization = "";
  check(r, kNow, 401, "MissingAuthenticationToken");
  check(Ingest("fake-forged", gz), kNow, 401, "InvalidAuthenticationToken");
  check(Ingest(token, gz), kNow + 60 * kSecondMs - 1, 204, "");
  check(Ingest(token, gz), kNow + 60 * kSecondMs, 401, "ExpiredAuthenticationToken");
  check(Ingest(token, "not gzip"), kNow, 400, "InvalidContentEncoding");
  check(Ingest(token, gz, "br"), kNow, 400, "UnsupportedContentEncoding");
  r = Ingest(token, gz);
  r.content_type = "text/plain";
  check(r, kNow, 415, "UnsupportedMediaType");
  check(Ingest(token, R"({"id":"a"})", ""), kNow, 400, "InvalidRequestBody");
  check(Ingest(token, R"([1,2])", ""), kNow, 400, "InvalidRequestBody");
}

TEST_F(DcrServiceTest, SizeLimits) {
  const std::string token = Issue(kNow);
  // Compressible: 1 MB of JSON that gzips small, so only the decompressed
  // size is over.
  std::string big = "[{\"pad\":\"" + std::string(kDcrMaxCallBytes, 'x') + "\"}]";
  DcrAnswer a = dcr_.Ingest(Ingest(token, GzipCompress(big).value()), kNow);
  EXPECT_EQ(a.status, 413);
  EXPECT_EQ(a.code, "ContentLengthLimitExceeded");
  EXPECT_EQ(dcr_.Ingest(Ingest(token, big, ""), kNow).status, 413);
  std::string fits = "[{\"pad\":\"" + std::string(kDcrMaxCallBytes - 12, 'x') + "\"}]";
  ASSERT_EQ(fits.size(), kDcrMaxCallBytes);
  EXPECT_EQ(dcr_.Ingest(Ingest(token, GzipCompress(fits).value()), kNow).status, 204);
}

TEST_F(DcrServiceTest, TimeRange) {
  const std::string token = Issue(kNow);
  auto status = [&](const std::string& json) {
    return dcr_.Ingest(Ingest(token, json, ""), kNow).status;
  };
  EXPECT_EQ(status(R"([{"occurred_at":"2023-11-14T22:00:00Z"},{"occurred_at":"2023-11-14T22:30:00Z"}])"),
            204);
  EXPECT_EQ(status(R"([{"occurred_at":"2023-11-14T22:00:00Z"},{"occurred_at":"2023-11-14T22:30:00.001Z"}])"),
            400);
  // Offsets count: 23:31+01:00 is 22:31Z.
  EXPECT_EQ(status(R"([{"occurred_at":"2023-11-14T22:00:00Z"},{"occurred_at":"2023-11-14T23:31:00+01:00"}])"),
            400);
  // Records without a usable time do not count.
  EXPECT_EQ(status(R"([{"occurred_at":"2023-11-14T22:00:00Z"},{"occurred_at":"later"},{"x":1}])"),
            204);
  DcrAnswer a = dcr_.Ingest(
      Ingest(token, R"([{"occurred_at":"2023-11-14T00:00:00Z"},{"occurred_at":"2023-11-15T00:00:00Z"}])",
             ""),
      kNow);
  EXPECT_EQ(a.code, "RecordsTimeRangeIsMoreThan30Minutes");
}

}  // namespace
}  // namespace outboxd::fake_sentinel
