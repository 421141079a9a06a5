#include "api/integration_json.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "outboxd/rfc3339.h"
#include "gtest/gtest.h"

namespace outboxd {
namespace {

// python3 -c 'import base64; print(base64.b64encode(bytes(range(32))).decode())'
constexpr char kKey32[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
// python3 -c 'import base64; print(base64.b64encode(bytes(range(16))).decode())'
constexpr char kKey16[] = "AAECAwQFBgcICQoLDA0ODw==";
// python3 -c 'import base64; print(base64.b64encode(bytes(range(15))).decode())'
constexpr char kKey15[] = "AAECAwQFBgcICQoLDA0O";
constexpr char kGuid[] = "0b0f5c3e-6a0f-4f55-9a3c-2f1d2b3c4d5e";

std::string Sentinel(absl::string_view extra = "") {
  return absl::StrCat(
      R"({"company_id":7,"name":"SOC","kind":"sentinel","workspace_id":")", kGuid,
      R"(","primary_key":")", kKey32, "\"", extra, "}");
}

std::string Dcr(absl::string_view extra = "") {
  return absl::StrCat(
      R"({"company_id":7,"name":"SOC","kind":"sentinel_dcr","tenant_id":"contoso.onmicrosoft.com",)",
      R"("client_id":")", kGuid, R"(","client_secret":"s3cr3t~value",)",
      R"("dce_endpoint":"https://my-dce-a1b2.westeurope-1.ingest.monitor.azure.com/",)",
      R"("dcr_immutable_id":"dcr-00000000000000000000000000000000","stream":"Custom-Wallarm")",
      extra, "}");
}

IntegrationConfig Parse(std::string_view json, bool allow_override = false) {
  IntegrationParseResult r = ParseIntegration(json, nullptr, {allow_override});
  EXPECT_TRUE(r.ok()) << json << ": " << r.error->field << ": " << r.error->message;
  return r.config;
}

FieldError ErrorOf(std::string_view json, const IntegrationConfig* base = nullptr,
                   bool allow_override = false) {
  IntegrationParseResult r = ParseIntegration(json, base, {allow_override});
  EXPECT_FALSE(r.ok()) << json;
  return r.error.value_or(FieldError{"<none>", ""});
}

TEST(IntegrationJsonTest, ParsesSentinelCreate) {
  IntegrationConfig c = Parse(Sentinel(
      R"(,"table":"Wallarm_CL","events":{"hits":true,"vulnerabilities":["high","low"],"hourly_report":true})"));
  EXPECT_EQ(c.company_id, 7u);
  EXPECT_EQ(c.name, "SOC");
  EXPECT_EQ(c.kind, IntegrationKind::kSentinel);
  EXPECT_EQ(c.workspace_id, kGuid);
  EXPECT_EQ(c.primary_key, kKey32);
  EXPECT_EQ(c.table, "Wallarm");
  EXPECT_EQ(c.time_field, "occurred_at");
  EXPECT_EQ(c.cloud, "public");
  Selection want;
  want.hits = want.vuln_high = want.vuln_low = want.hourly_report = true;
  EXPECT_EQ(c.events, want);
  EXPECT_EQ(c.id, 0u);
  EXPECT_EQ(c.state, IntegrationState::kEnabled);
}

TEST(IntegrationJsonTest, RequiredFields) {
  EXPECT_EQ(ErrorOf(R"({"name":"a","kind":"sentinel"})").field, "company_id");
  EXPECT_EQ(ErrorOf(R"({"company_id":1,"kind":"sentinel"})").field, "name");
  EXPECT_EQ(ErrorOf(R"({"company_id":1,"name":"a"})").field, "kind");
  FieldError e = ErrorOf(R"({"company_id":1,"name":"a","kind":"sentinel"})");
  EXPECT_EQ(e.field, "workspace_id");
  EXPECT_EQ(e.message, "is required for kind sentinel");
  e = ErrorOf(absl::StrCat(
      R"({"company_id":1,"name":"a","kind":"sentinel","workspace_id":")", kGuid, "\"}"));
  EXPECT_EQ(e.field, "primary_key");
}

TEST(IntegrationJsonTest, WorkspaceIdMustBeAGuid) {
  for (std::string_view bad :
       {"not-a-guid", "0b0f5c3e6a0f4f559a3c2f1d2b3c4d5e",
        "0b0f5c3e-6a0f-4f55-9a3c-2f1d2b3c4d5", "0b0f5c3e-6a0f-4f55-9a3c-2f1d2b3c4d5g",
        "evil.example.com/x?"}) {
    std::string json = Sentinel();
    json.replace(json.find(kGuid), sizeof(kGuid) - 1, bad);
    FieldError e = ErrorOf(json);
    EXPECT_EQ(e.field, "workspace_id") << bad;
  }
}

TEST(IntegrationJsonTest, PrimaryKeyMustBeBase64OfAtLeast16Bytes) {
  for (std::string_view bad : {"not base64!", "AAECAwQFBgcICQoLDA0ODw=", kKey15}) {
    std::string json = Sentinel();
    json.replace(json.find(kKey32), sizeof(kKey32) - 1, bad);
    FieldError e = ErrorOf(json);
    EXPECT_EQ(e.field, "primary_key") << bad;
    EXPECT_EQ(e.message.find(bad), std::string::npos)
        << "a secret leaked into: " << e.message;
  }
  std::string json = Sentinel();
  json.replace(json.find(kKey32), sizeof(kKey32) - 1, kKey16);
  EXPECT_EQ(Parse(json).primary_key, kKey16);
}

TEST(IntegrationJsonTest, UnknownFieldsAndEventGroupsAreNamed) {
  EXPECT_EQ(ErrorOf(Sentinel(R"(,"colour":"red")")).field, "colour");
  FieldError e = ErrorOf(Sentinel(R"(,"events":{"hits":true,"hitz":true})"));
  EXPECT_EQ(e.field, "events.hitz");
  EXPECT_EQ(e.message, "unknown event group");
  EXPECT_EQ(ErrorOf(Sentinel(R"(,"events":{"hits":"yes"})")).field, "events.hits");
  EXPECT_EQ(ErrorOf(Sentinel(R"(,"events":[])")).field, "events");
  EXPECT_EQ(ErrorOf(Sentinel(R"(,"events":{"vulnerabilities":["high","severe"]})")).field,
            "events.vulnerabilities");
  EXPECT_EQ(ErrorOf(Sentinel(R"(,"events":{"vulnerabilities":"high"})")).field,
            "events.vulnerabilities");
  EXPECT_EQ(ErrorOf(Sentinel(R"(,"events":{"hits":true,"hits":false})")).field,
            "events.hits");
}

TEST(IntegrationJsonTest, VulnerabilitiesAcceptBooleans) {
  IntegrationConfig all = Parse(Sentinel(R"(,"events":{"vulnerabilities":true})"));
  EXPECT_TRUE(all.events.vuln_high && all.events.vuln_medium && all.events.vuln_low);
  IntegrationConfig none = Parse(Sentinel(R"(,"events":{"vulnerabilities":false})"));
  EXPECT_FALSE(none.events.vuln_high || none.events.vuln_medium || none.events.vuln_low);
}

TEST(IntegrationJsonTest, BadJsonAndDuplicatesAndTypes) {
  FieldError e = ErrorOf("{\"company_id\":");
  EXPECT_EQ(e.field, "");
  EXPECT_EQ(ErrorOf("[]").field, "");
  EXPECT_EQ(ErrorOf(Sentinel(R"(,"name":"again")")).field, "name");
  EXPECT_EQ(ErrorOf(Sentinel(R"(,"name":"again")")).message, "duplicate key");
  EXPECT_EQ(ErrorOf(R"({"company_id":"7","name":"a","kind":"sentinel"})").field,
            "company_id");
  EXPECT_EQ(ErrorOf(R"({"company_id":0,"name":"a","kind":"sentinel"})").field,
            "company_id");
  EXPECT_EQ(ErrorOf(R"({"company_id":1,"name":"a","kind":"splunk"})").field, "kind");
  EXPECT_EQ(ErrorOf(R"({"company_id":1,"name":"","kind":"sentinel"})").field, "name");
  EXPECT_EQ(ErrorOf(R"({"company_id":1,"name":5,"kind":"sentinel"})").field, "name");
  EXPECT_EQ(ErrorOf(Sentinel(R"(,"cloud":"mars")")).field, "cloud");
  EXPECT_EQ(ErrorOf(Sentinel(R"(,"time_field":"occurred-at")")).field, "time_field");
  EXPECT_EQ(ErrorOf(Sentinel(R"(,"id":3)")).field, "id");
  EXPECT_EQ(ErrorOf(Sentinel(R"(,"state":"enabled")")).field, "state");
}

TEST(IntegrationJsonTest, TableIsStrippedAndValidated) {
  EXPECT_EQ(Parse(Sentinel(R"(,"table":"Custom_CL")")).table, "Custom");
  EXPECT_EQ(Parse(Sentinel(R"(,"table":"")")).table, "");
  EXPECT_EQ(ErrorOf(Sentinel(R"(,"table":"bad-name")")).field, "table");
  EXPECT_EQ(ErrorOf(Sentinel(R"(,"table":"Bad_CL_CL!")")).field, "table");
  EXPECT_EQ(
      ErrorOf(Sentinel(absl::StrCat(R"(,"table":")", std::string(101, 'a'), "\""))).field,
      "table");
  EXPECT_EQ(Parse(Sentinel(absl::StrCat(R"(,"table":")", std::string(100, 'a'), "_CL\"")))
                .table,
            std::string(100, 'a'));
}

TEST(IntegrationJsonTest, EndpointNeedsTheFlag) {
  FieldError e = ErrorOf(Sentinel(R"(,"endpoint":"http://127.0.0.1:8080")"));
  EXPECT_EQ(e.field, "endpoint");
  EXPECT_NE(e.message.find("--allow-endpoint-override"), std::string::npos);
  EXPECT_EQ(Parse(Sentinel(R"(,"endpoint":"http://127.0.0.1:8080/")"), true).endpoint,
            "http://127.0.0.1:8080");
  EXPECT_EQ(Parse(Sentinel(R"(,"endpoint":"https://[::1]:9/base")"), true).endpoint,
            "https://[::1]:9/base");
  for (absl::string_view bad :
       {"ftp://host", "http://", "http://host:0", "http://host:99999", "http://user@host",
        "http://host/?q=1", "http://host/#f", "http://ho st", "host:80"}) {
    EXPECT_EQ(
        ErrorOf(Sentinel(absl::StrCat(R"(,"endpoint":")", bad, "\"")), nullptr, true)
            .field,
        "endpoint")
        << bad;
  }
}

TEST(IntegrationJsonTest, ParsesDcrCreate) {
  IntegrationConfig c =
      Parse(Dcr(R"(,"authority":"https://login.microsoftonline.com/")"));
  EXPECT_EQ(c.kind, IntegrationKind::kSentinelDcr);
  EXPECT_EQ(c.tenant_id, "contoso.onmicrosoft.com");
  EXPECT_EQ(c.client_secret, "s3cr3t~value");
  EXPECT_EQ(c.dce_endpoint, "https://my-dce-a1b2.westeurope-1.ingest.monitor.azure.com");
  EXPECT_EQ(c.stream, "Custom-Wallarm");
  EXPECT_EQ(c.authority, "");  // the cloud's default is stored as "use the default"
}

TEST(IntegrationJsonTest, DcrFieldRules) {
  EXPECT_EQ(ErrorOf(Dcr(absl::StrCat(R"(,"workspace_id":")", kGuid, "\""))).field,
            "workspace_id");
  EXPECT_EQ(ErrorOf(Dcr(R"(,"endpoint":"https://x.example")"), nullptr, true).field,
            "endpoint");
  EXPECT_EQ(ErrorOf(Dcr(R"(,"client_id":"nope")")).field, "client_id");
  EXPECT_EQ(ErrorOf(Dcr(R"(,"stream":"Custom/../x")")).field, "stream");
  std::string no_stream = Dcr();
  no_stream.erase(no_stream.find(R"(,"stream")"),
                  std::string(R"(,"stream":"Custom-Wallarm")").size());
  FieldError e = ErrorOf(no_stream);
  EXPECT_EQ(e.field, "stream");
  EXPECT_EQ(e.message, "is required for kind sentinel_dcr");
}

TEST(IntegrationJsonTest, DcrOverridesNeedTheFlag) {
  FieldError e = ErrorOf(Dcr(R"(,"authority":"https://login.example.com")"));
  EXPECT_EQ(e.field, "authority");
  EXPECT_EQ(Parse(Dcr(R"(,"authority":"http://127.0.0.1:9000")"), true).authority,
            "http://127.0.0.1:9000");
  // The DCE must be on the chosen cloud's Azure Monitor ingestion hosts.
  EXPECT_EQ(ErrorOf(Dcr(R"(,"cloud":"usgov")")).field, "dce_endpoint");
  std::string usgov = Dcr(R"(,"cloud":"usgov")");
  usgov.replace(usgov.find("azure.com"), 9, "azure.us");
  EXPECT_EQ(Parse(usgov).cloud, "usgov");
  for (absl::string_view host : {"http://my-dce.westeurope-1.ingest.monitor.azure.com",
                                 "https://evil.com/.ingest.monitor.azure.com",
                                 "https://ingest.monitor.azure.com.evil.com",
                                 "https://my-dce.ingest.monitor.azure.com:8443"}) {
    std::string json = Dcr();
    const size_t start = json.find("https://my-dce");
    json.replace(start, json.find('"', start) - start, std::string(host));
    EXPECT_EQ(ErrorOf(json).field, "dce_endpoint") << host;
    EXPECT_TRUE(ParseIntegration(json, nullptr, {true}).ok()) << host;
  }
}

IntegrationConfig Stored(std::string_view json) {
  IntegrationConfig c = Parse(json);
  c.id = 12;
  c.version = 3;
  c.created_ms = 1'700'000'000'000;
  c.updated_ms = 1'700'000'100'000;
  return c;
}

TEST(IntegrationJsonTest, PatchChangesOnlyGivenFields) {
  const IntegrationConfig base =
      Stored(Sentinel(R"(,"table":"T","events":{"hits":true,"system":true})"));
  IntegrationParseResult r = ParseIntegration(
      R"({"name":"Renamed","events":{"system":false,"scope":true}})", &base, {});
  ASSERT_TRUE(r.ok()) << r.error->message;
  EXPECT_EQ(r.config.name, "Renamed");
  EXPECT_EQ(r.config.table, "T");
  EXPECT_EQ(r.config.primary_key, kKey32);
  EXPECT_TRUE(r.config.events.hits);
  EXPECT_FALSE(r.config.events.system);
  EXPECT_TRUE(r.config.events.scope);
  EXPECT_EQ(r.config.id, 12u);
  EXPECT_EQ(r.config.version, 3u);
  EXPECT_TRUE(ParseIntegration("{}", &base, {}).ok());
}

TEST(IntegrationJsonTest, PatchRules) {
  const IntegrationConfig base = Stored(Sentinel());
  EXPECT_EQ(ErrorOf(R"({"kind":"sentinel_dcr"})", &base).field, "kind");
  EXPECT_EQ(ErrorOf(R"({"company_id":8})", &base).field, "company_id");
  EXPECT_TRUE(ParseIntegration(R"({"company_id":7,"kind":"sentinel"})", &base, {}).ok());
  EXPECT_EQ(ErrorOf(R"({"state":"disabled"})", &base).field, "state");
  EXPECT_EQ(ErrorOf(R"({"id":13})", &base).field, "id");
  EXPECT_EQ(ErrorOf(R"({"primary_key":""})", &base).field, "primary_key");
}

TEST(IntegrationJsonTest, MaskedSecretKeepsTheStoredOne) {
  const IntegrationConfig base = Stored(Sentinel());
  IntegrationParseResult r = ParseIntegration(R"({"primary_key":"********"})", &base, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.primary_key, kKey32);
  r = ParseIntegration(absl::StrCat(R"({"primary_key":")", kKey16, "\"}"), &base, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.primary_key, kKey16);
  // On create there is nothing to keep.
  std::string json = Sentinel();
  json.replace(json.find(kKey32), sizeof(kKey32) - 1, "********");
  EXPECT_EQ(ErrorOf(json).field, "primary_key");
}

TEST(IntegrationJsonTest, OutputMasksSecretsAndShowsState) {
  IntegrationConfig c = Stored(Sentinel(R"(,"events":{"vulnerabilities":["medium"]})"));
  c.state = IntegrationState::kBroken;
  const std::string json = IntegrationToJson(c);
  EXPECT_EQ(json.find(kKey32), std::string::npos);
  EXPECT_EQ(
      json,
      absl::StrCat(
          R"({"id":12,"company_id":7,"name":"SOC","kind":"sentinel","state":"broken",)",
          R"("events":{"hits":false,"system":false,"vulnerabilities":["medium"],)",
          R"("rules_and_triggers":false,"scope":false,"triggered":false,"hourly_report":false},)",
          R"("table":"","time_field":"occurred_at","cloud":"public","endpoint":"",)",
          R"("workspace_id":")", kGuid, R"(","primary_key":"********",)",
          R"("created_at":"2023-11-14T22:13:20.000Z","updated_at":"2023-11-14T22:15:00.000Z",)",
          R"("version":3})"));

  const IntegrationConfig dcr = Stored(Dcr());
  const std::string dcr_json = IntegrationToJson(dcr);
  EXPECT_EQ(dcr_json.find("s3cr3t"), std::string::npos);
  EXPECT_NE(dcr_json.find(R"("client_secret":"********")"), std::string::npos);
  EXPECT_NE(dcr_json.find(R"("authority":"https://login.microsoftonline.com")"),
            std::string::npos);
  EXPECT_EQ(dcr_json.find("workspace_id"), std::string::npos);
}

TEST(IntegrationJsonTest, GetOutputSentBackIsANoOpPatch) {
  for (const std::string& create :
       {Sentinel(R"(,"table":"T","events":{"hits":true})"), Dcr()}) {
    const IntegrationConfig base = Stored(create);
    IntegrationParseResult r = ParseIntegration(IntegrationToJson(base), &base, {});
    ASSERT_TRUE(r.ok()) << r.error->field << ": " << r.error->message;
    EXPECT_EQ(IntegrationToJson(r.config), IntegrationToJson(base));
    EXPECT_EQ(r.config.primary_key, base.primary_key);
    EXPECT_EQ(r.config.client_secret, base.client_secret);
    EXPECT_EQ(r.config.authority, base.authority);
  }
}

TEST(IntegrationJsonTest, OverrideSavedWithTheFlagStaysEditableWithout) {
  IntegrationParseResult saved = ParseIntegration(
      Sentinel(R"(,"endpoint":"http://127.0.0.1:8080")"), nullptr, {true});
  ASSERT_TRUE(saved.ok());
  IntegrationConfig base = saved.config;
  base.id = 1;
  EXPECT_TRUE(ParseIntegration(IntegrationToJson(base), &base, {}).ok());
  EXPECT_EQ(ErrorOf(R"({"endpoint":"http://127.0.0.1:9090"})", &base).field, "endpoint");
}

}  // namespace
}  // namespace outboxd
