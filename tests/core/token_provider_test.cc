#include "destinations/token_provider.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fakes/scripted_transport.h"
#include "gtest/gtest.h"

namespace outboxd {
namespace {

constexpr TimeMs kStart = 1'700'000'000'000;

IntegrationConfig DcrConfig() {
  IntegrationConfig c;
  c.kind = IntegrationKind::kSentinelDcr;
  c.tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47";
  c.client_id = "11111111-2222-3333-4444-555555555555";
  c.client_secret = "s3cr3t~+/= &x";
  c.dce_endpoint = "https://my-dce-abcd.westeurope-1.ingest.monitor.azure.com";
  c.dcr_immutable_id = "dcr-00000000000000000000000000000000";
  c.stream = "Custom-Outboxd_CL";
  return c;
}

HttpResponse TokenAnswer(std::string token, std::string expires_in = "3600") {
  return ScriptedTransport::Status(
      200, R"({"token_type":"Bearer","expires_in":)" + expires_in +
               R"(,"ext_expires_in":3600,"access_token":")" + token + R"("})");
}

// Records what GetToken callbacks received.
struct Results {
  std::vector<absl::StatusOr<std::string>> got;
  TokenProvider::Callback Add() {
    return [this](absl::StatusOr<std::string> token) { got.push_back(std::move(token)); };
  }
};

class TokenProviderTest : public ::testing::Test {
 protected:
  TokenProviderTest() : clock_(kStart) {
    provider_ = TokenProvider::Create(&transport_, &clock_, *DcrTokenCredential(DcrConfig()), {});
  }

  FakeClock clock_;
  ScriptedTransport transport_;
  std::shared_ptr<TokenProvider> provider_;
  Results results_;
};

TEST(DcrTokenCredentialTest, AuthorityAndScopeFollowTheCloud) {
  IntegrationConfig c = DcrConfig();
  struct Row {
    std::string cloud;
    std::string url;
    std::string scope;
  };
  const std::string path = "/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token";
  for (const Row& row : {
           Row{"public", "https://login.microsoftonline.com" + path,
               "https://monitor.azure.com//.default"},
           Row{"", "https://login.microsoftonline.com" + path,
               "https://monitor.azure.com//.default"},
           Row{"usgov", "https://login.microsoftonline.us" + path,
               "https://monitor.azure.us//.default"},
           Row{"china", "https://login.chinacloudapi.cn" + path,
               "https://monitor.azure.cn//.default"},
       }) {
    c.cloud = row.cloud;
    absl::StatusOr<TokenCredential> credential = DcrTokenCredential(c);
    ASSERT_TRUE(credential.ok()) << credential.status();
    EXPECT_EQ(credential->token_url, row.url) << row.cloud;
    EXPECT_EQ(credential->scope, row.scope) << row.cloud;
    EXPECT_EQ(credential->client_id, c.client_id);
    EXPECT_EQ(credential->client_secret, c.client_secret);
  }
}

TEST(DcrTokenCredentialTest, AuthorityOverrideKeepsTheCloudsScope) {
  IntegrationConfig c = DcrConfig();
  c.cloud = "usgov";
  c.authority = "http://127.0.0.1:4567/";
  c.tenant_id = "contoso.onmicrosoft.com";
  absl::StatusOr<TokenCredential> credential = DcrTokenCredential(c);
  ASSERT_TRUE(credential.ok());
  EXPECT_EQ(credential->token_url,
            "http://127.0.0.1:4567/contoso.onmicrosoft.com/oauth2/v2.0/token");
  EXPECT_EQ(credential->scope, "https://monitor.azure.us//.default");
}

TEST(DcrTokenCredentialTest, Invalid) {
  IntegrationConfig c = DcrConfig();
  c.cloud = "mars";
  EXPECT_EQ(DcrTokenCredential(c).status().code(), absl::StatusCode::kInvalidArgument);
  c = DcrConfig();
  c.tenant_id.clear();
  EXPECT_EQ(DcrTokenCredential(c).status().code(), absl::StatusCode::kInvalidArgument);
  c = DcrConfig();
  c.client_id.clear();
  EXPECT_EQ(DcrTokenCredential(c).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TokenRequestBodyTest, FormEncoded) {
  // python3 -c "from urllib.parse import urlencode, quote; print(urlencode({
  //   'grant_type':'client_credentials',
  //   'client_id':'11111111-2222-3333-4444-555555555555',
  //   'client_secret':'s3cr3t~+/= &x',
  //   'scope':'https://monitor.azure.com//.default'}, quote_via=quote))"
  EXPECT_EQ(TokenRequestBody(*DcrTokenCredential(DcrConfig())),
            "grant_type=client_credentials&client_id=11111111-2222-3333-4444-555555555555"
            "&client_secret=s3cr3t~%2B%2F%3D%20%26x"
            "&scope=https%3A%2F%2Fmonitor.azure.com%2F%2F.default");
  // python3 -c "from urllib.parse import quote; print(quote('a b&c=d/é~._-', safe=''))"
  EXPECT_EQ(UrlEncode("a b&c=d/\xc3\xa9~._-"), "a%20b%26c%3Dd%2F%C3%A9~._-");
}

TEST_F(TokenProviderTest, FetchesOnceThenServesFromTheCache) {
  provider_->GetToken(results_.Add());
  EXPECT_TRUE(results_.got.empty());  // waits for the token endpoint
  ASSERT_EQ(transport_.pending().size(), 1u);
  const HttpRequest& sent = transport_.pending()[0].request;
  EXPECT_EQ(sent.method, "POST");
  EXPECT_EQ(sent.url,
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/"
            "v2.0/token");
  EXPECT_EQ(sent.body, TokenRequestBody(provider_->credential()));
  ASSERT_FALSE(sent.headers.empty());
  EXPECT_EQ(sent.headers[0].first, "Content-Type");
  EXPECT_EQ(sent.headers[0].second, "application/x-www-form-urlencoded");

  transport_.Complete(0, TokenAnswer("tok-1"));
  ASSERT_EQ(results_.got.size(), 1u);
  ASSERT_TRUE(results_.got[0].ok()) << results_.got[0].status();
  EXPECT_EQ(*results_.got[0], "tok-1");

  clock_.Advance(50 * kMinuteMs);
  provider_->GetToken(results_.Add());
  ASSERT_EQ(results_.got.size(), 2u);  // inside the call
  EXPECT_EQ(*results_.got[1], "tok-1");
  EXPECT_EQ(provider_->fetches(), 1u);
  EXPECT_TRUE(transport_.pending().empty());
}

TEST_F(TokenProviderTest, OneFetchForManyWaiters) {
  for (int i = 0; i < 100; ++i) provider_->GetToken(results_.Add());
  EXPECT_EQ(transport_.pending().size(), 1u);
  EXPECT_EQ(provider_->fetches(), 1u);
  EXPECT_TRUE(results_.got.empty());
  transport_.Complete(0, TokenAnswer("tok-1"));
  ASSERT_EQ(results_.got.size(), 100u);
  for (const auto& got : results_.got) EXPECT_EQ(got.value_or("error"), "tok-1");
  EXPECT_EQ(transport_.sent().size(), 1u);
}

TEST_F(TokenProviderTest, RefreshesAheadOfExpiryWhileServingTheOldToken) {
  provider_->GetToken(results_.Add());
  transport_.Complete(0, TokenAnswer("tok-1", "3600"));
  // A 60-minute token is refreshed with 5 minutes left.
  clock_.Advance(55 * kMinuteMs - 1);
  provider_->GetToken(results_.Add());
  EXPECT_EQ(provider_->fetches(), 1u);
  clock_.Advance(1);
  provider_->GetToken(results_.Add());
  provider_->GetToken(results_.Add());
  ASSERT_EQ(results_.got.size(), 4u);  // nobody waited
  EXPECT_EQ(*results_.got[3], "tok-1");
  EXPECT_EQ(provider_->fetches(), 2u);  // one refresh for both
  ASSERT_EQ(transport_.pending().size(), 1u);
  transport_.Complete(0, TokenAnswer("tok-2", "3600"));
  provider_->GetToken(results_.Add());
  EXPECT_EQ(*results_.got.back(), "tok-2");
}

TEST_F(TokenProviderTest, ShortLivedTokensRefreshAtATenthOfTheirLifetime) {
  provider_->GetToken(results_.Add());
  transport_.Complete(0, TokenAnswer("tok-1", "\"100\""));  // a string, as v1 answers
  ASSERT_EQ(results_.got.size(), 1u);
  ASSERT_TRUE(results_.got[0].ok()) << results_.got[0].status();
  clock_.Advance(90 * kSecondMs - 1);
  provider_->GetToken(results_.Add());
  EXPECT_EQ(provider_->fetches(), 1u);
  clock_.Advance(1);
  provider_->GetToken(results_.Add());
  EXPECT_EQ(provider_->fetches(), 2u);
}

TEST_F(TokenProviderTest, ANearlyExpiredTokenIsNotHandedOut) {
  provider_->GetToken(results_.Add());
  transport_.Complete(0, TokenAnswer("tok-1", "3600"));
  clock_.Advance(60 * kMinuteMs - 30 * kSecondMs);
  provider_->GetToken(results_.Add());
  EXPECT_EQ(results_.got.size(), 1u);  // waits for the new token
  ASSERT_EQ(transport_.pending().size(), 1u);
  transport_.Complete(0, TokenAnswer("tok-2"));
  ASSERT_EQ(results_.got.size(), 2u);
  EXPECT_EQ(*results_.got[1], "tok-2");
}

TEST_F(TokenProviderTest, LifetimeCountsFromTheRequest) {
  provider_->GetToken(results_.Add());
  clock_.Advance(10 * kMinuteMs);  // a slow token endpoint
  transport_.Complete(0, TokenAnswer("tok-1", "3600"));
  clock_.Advance(45 * kMinuteMs);  // 55 minutes after asking: refresh
  provider_->GetToken(results_.Add());
  EXPECT_EQ(provider_->fetches(), 2u);
}

TEST_F(TokenProviderTest, AFailingTokenEndpointFailsTheWaitersAndIsAskedAgain) {
  for (int i = 0; i < 3; ++i) provider_->GetToken(results_.Add());
  transport_.Complete(0, ScriptedTransport::Status(
                             401, R"({"error":"invalid_client","error_description":)"
                                  R"("AADSTS7000215: Invalid client secret provided.",)"
                                  R"("error_codes":[7000215]})"));
  ASSERT_EQ(results_.got.size(), 3u);
  for (const auto& got : results_.got) {
    EXPECT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(std::string(got.status().message()),
              "token request failed: 401 invalid_client: AADSTS7000215: Invalid client secret "
              "provided.");
  }
  provider_->GetToken(results_.Add());
  EXPECT_EQ(provider_->fetches(), 2u);  // failures are not cached
  transport_.Complete(0, TokenAnswer("tok-1"));
  EXPECT_EQ(results_.got.back().value_or("error"), "tok-1");
}

TEST_F(TokenProviderTest, UnavailableForServerErrorsAndNoAnswer) {
  provider_->GetToken(results_.Add());
  transport_.Complete(0, ScriptedTransport::Status(503, "<html>down</html>"));
  provider_->GetToken(results_.Add());
  HttpResponse none;
  none.timed_out = true;
  none.transport_error = "Operation timed out";
  transport_.Complete(0, none);
  provider_->GetToken(results_.Add());
  transport_.Complete(0, ScriptedTransport::Status(200, R"({"token_type":"Bearer"})"));
  ASSERT_EQ(results_.got.size(), 3u);
  EXPECT_EQ(results_.got[0].status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(std::string(results_.got[0].status().message()), "token request failed: 503");
  EXPECT_EQ(results_.got[1].status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(std::string(results_.got[1].status().message()),
            "token request failed: timeout: Operation timed out");
  EXPECT_EQ(results_.got[2].status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(std::string(results_.got[2].status().message()),
            "token request failed: 200: the answer has no access_token and expires_in");
}

TEST_F(TokenProviderTest, AFailedBackgroundRefreshKeepsTheTokenAndBacksOff) {
  provider_->GetToken(results_.Add());
  transport_.Complete(0, TokenAnswer("tok-1", "3600"));
  clock_.Advance(56 * kMinuteMs);
  provider_->GetToken(results_.Add());
  transport_.Complete(0, ScriptedTransport::Status(500));
  EXPECT_EQ(provider_->fetches(), 2u);
  provider_->GetToken(results_.Add());  // inside the backoff: no new fetch
  EXPECT_EQ(provider_->fetches(), 2u);
  clock_.Advance(10 * kSecondMs);
  provider_->GetToken(results_.Add());
  EXPECT_EQ(provider_->fetches(), 3u);
  ASSERT_EQ(results_.got.size(), 4u);
  for (const auto& got : results_.got) EXPECT_EQ(got.value_or("error"), "tok-1");
}

TEST_F(TokenProviderTest, InvalidateDropsOnlyATokenTheRequestCouldHaveCarried) {
  provider_->GetToken(results_.Add());
  clock_.Advance(kSecondMs);
  transport_.Complete(0, TokenAnswer("tok-1"));
  const TimeMs obtained = clock_.NowMs();
  provider_->Invalidate(obtained - 1);  // a request sent before tok-1 came
  provider_->GetToken(results_.Add());
  EXPECT_EQ(provider_->fetches(), 1u);
  provider_->Invalidate(obtained);
  provider_->GetToken(results_.Add());
  EXPECT_EQ(provider_->fetches(), 2u);
  EXPECT_EQ(results_.got.size(), 2u);
}

TEST_F(TokenProviderTest, WaitersAreAnsweredWhenTheLastHolderIsGone) {
  provider_->GetToken(results_.Add());
  std::weak_ptr<TokenProvider> weak = provider_;
  provider_.reset();
  EXPECT_FALSE(weak.expired());  // the request in flight holds it
  transport_.Complete(0, TokenAnswer("tok-1"));
  ASSERT_EQ(results_.got.size(), 1u);
  EXPECT_EQ(results_.got[0].value_or("error"), "tok-1");
  EXPECT_TRUE(weak.expired());
}

TEST_F(TokenProviderTest, AWaiterMayAskAgain) {
  provider_->GetToken([&](absl::StatusOr<std::string> first) {
    results_.got.push_back(first);
    provider_->GetToken(results_.Add());  // failed: fetches again
  });
  transport_.Complete(0, ScriptedTransport::Status(500));
  ASSERT_EQ(transport_.pending().size(), 1u);
  transport_.Complete(0, TokenAnswer("tok-1"));
  ASSERT_EQ(results_.got.size(), 2u);
  EXPECT_FALSE(results_.got[0].ok());
  EXPECT_EQ(results_.got[1].value_or("error"), "tok-1");
}

TEST(TokenProvidersTest, OneProviderPerCredential) {
  FakeClock clock(kStart);
  ScriptedTransport transport;
  TokenProviders providers(&transport, &clock);
  TokenCredential a = *DcrTokenCredential(DcrConfig());
  TokenCredential b = a;
  b.client_secret = "other";
  std::shared_ptr<TokenProvider> a1 = providers.Get(a);
  std::shared_ptr<TokenProvider> a2 = providers.Get(a);
  std::shared_ptr<TokenProvider> b1 = providers.Get(b);
  EXPECT_EQ(a1, a2);
  EXPECT_NE(a1, b1);
  EXPECT_EQ(b1->credential(), b);

  Results results;
  a1->GetToken(results.Add());
  a2->GetToken(results.Add());
  EXPECT_EQ(transport.pending().size(), 1u);
  transport.Complete(0, TokenAnswer("tok-a"));
  EXPECT_EQ(results.got.size(), 2u);

  std::weak_ptr<TokenProvider> weak = b1;
  b1.reset();
  EXPECT_TRUE(weak.expired());
  EXPECT_NE(providers.Get(b), nullptr);  // made again
}

}  // namespace
}  // namespace outboxd
