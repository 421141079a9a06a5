#include "api/integration_record.h"

#include <string>

#include "absl/strings/str_replace.h"
#include "api/integration_json.h"
#include "gtest/gtest.h"

namespace outboxd {
namespace {

constexpr char kPrimaryKey[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr char kClientSecret[] = "client~secret~value";

SecretBox Box(char fill = 'k') { return *SecretBox::FromKey(std::string(32, fill)); }

IntegrationConfig SentinelConfig() {
  IntegrationConfig c;
  c.id = 41;
  c.company_id = 7;
  c.name = "SOC \"main\"";
  c.kind = IntegrationKind::kSentinel;
  c.state = IntegrationState::kBroken;
  c.events.hits = c.events.vuln_medium = c.events.hourly_report = true;
  c.table = "Wallarm";
  c.time_field = "";
  c.cloud = "usgov";
  c.endpoint = "http://127.0.0.1:9000";
  c.workspace_id = "0b0f5c3e-6a0f-4f55-9a3c-2f1d2b3c4d5e";
  c.primary_key = kPrimaryKey;
  c.created_ms = 1'700'000'000'000;
  c.updated_ms = 1'700'000'000'123;
  c.version = 9;
  return c;
}

IntegrationConfig DcrConfig() {
  IntegrationConfig c;
  c.id = 42;
  c.company_id = 8;
  c.name = "DCR";
  c.kind = IntegrationKind::kSentinelDcr;
  c.events.system = c.events.rules_and_triggers = true;
  c.tenant_id = "contoso.onmicrosoft.com";
  c.client_id = "0b0f5c3e-6a0f-4f55-9a3c-2f1d2b3c4d5e";
  c.client_secret = kClientSecret;
  c.dce_endpoint = "https://x.westeurope-1.ingest.monitor.azure.com";
  c.dcr_immutable_id = "dcr-0123";
  c.stream = "Custom-Wallarm";
  c.authority = "http://127.0.0.1:9001";
  c.created_ms = -5;
  c.updated_ms = 0;
  c.version = 1;
  return c;
}

void ExpectSame(const IntegrationConfig& a, const IntegrationConfig& b) {
  // The API view (secrets masked) plus the secrets compared directly.
  EXPECT_EQ(IntegrationToJson(a), IntegrationToJson(b));
  EXPECT_EQ(a.primary_key, b.primary_key);
  EXPECT_EQ(a.client_secret, b.client_secret);
  EXPECT_EQ(a.endpoint, b.endpoint);
  EXPECT_EQ(a.authority, b.authority);
  EXPECT_EQ(a.time_field, b.time_field);
  EXPECT_EQ(a.created_ms, b.created_ms);
  EXPECT_EQ(a.updated_ms, b.updated_ms);
}

TEST(IntegrationRecordTest, RoundTripsBothKinds) {
  const SecretBox box = Box();
  for (const IntegrationConfig& c : {SentinelConfig(), DcrConfig()}) {
    absl::StatusOr<std::string> record = EncodeIntegrationRecord(c, box);
    ASSERT_TRUE(record.ok()) << record.status();
    absl::StatusOr<IntegrationConfig> back = DecodeIntegrationRecord(*record, box);
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSame(*back, c);
  }
}

TEST(IntegrationRecordTest, NoSecretInClear) {
  const SecretBox box = Box();
  const std::string s = *EncodeIntegrationRecord(SentinelConfig(), box);
  EXPECT_EQ(s.find(kPrimaryKey), std::string::npos);
  EXPECT_EQ(s.find("AAECAwQFBgcICQoLDA0O"), std::string::npos);
  EXPECT_NE(s.find("\"primary_key_enc\":\""), std::string::npos);
  const std::string d = *EncodeIntegrationRecord(DcrConfig(), box);
  EXPECT_EQ(d.find(kClientSecret), std::string::npos);
  EXPECT_NE(d.find("\"client_secret_enc\":\""), std::string::npos);
}

TEST(IntegrationRecordTest, WrongKeyIsDataLoss) {
  const std::string record = *EncodeIntegrationRecord(SentinelConfig(), Box('a'));
  EXPECT_EQ(DecodeIntegrationRecord(record, Box('b')).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(IntegrationRecordTest, CiphertextCannotMoveToAnotherIntegration) {
  const SecretBox box = Box();
  const std::string record = *EncodeIntegrationRecord(SentinelConfig(), box);
  const std::string moved = absl::StrReplaceAll(record, {{"\"id\":41", "\"id\":43"}});
  ASSERT_NE(moved, record);
  EXPECT_EQ(DecodeIntegrationRecord(moved, box).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(IntegrationRecordTest, RejectsCorruptRecordsAndIgnoresUnknownKeys) {
  const SecretBox box = Box();
  const std::string record = *EncodeIntegrationRecord(DcrConfig(), box);
  const std::string extended =
      absl::StrReplaceAll(record, {{"{\"v\":1,", "{\"v\":1,\"future\":[1],"}});
  EXPECT_TRUE(DecodeIntegrationRecord(extended, box).ok());
  for (const std::string& bad :
       {std::string("not json"), std::string("[]"),
        absl::StrReplaceAll(record, {{"{\"v\":1,", "{\"v\":2,"}}),
        absl::StrReplaceAll(record,
                            {{"\"kind\":\"sentinel_dcr\"", "\"kind\":\"splunk\""}}),
        absl::StrReplaceAll(record, {{"\"state\":\"enabled\"", "\"state\":\"on\""}}),
        absl::StrReplaceAll(record, {{"\"version\":1}", "\"version\":\"1\"}"}}),
        absl::StrReplaceAll(
            record, {{"\"client_secret_enc\":\"", "\"client_secret_enc\":\"!"}})}) {
    EXPECT_EQ(DecodeIntegrationRecord(bad, box).status().code(),
              absl::StatusCode::kDataLoss)
        << bad;
  }
}

}  // namespace
}  // namespace outboxd
