// sentinel_dcr for real: CurlTransport, the destination and its token
// provider against tools/fake_sentinel's token and Logs Ingestion endpoints
// (a child process) over loopback.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "destinations/factory.h"
#include "destinations/gzip.h"
#include "destinations/sentinel_dcr.h"
#include "transport/curl_transport.h"
#include "transport/test_support.h"

namespace outboxd {
namespace {

using testing::FakeSentinel;
using testing::RunUntil;

constexpr char kClient[] = "11111111-2222-3333-4444-555555555555";
constexpr char kSecret[] = "s3cr3t +/=&";
constexpr char kStream[] = "Custom-Outboxd_CL";

class DcrNetTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--dcr-client", std::string(kClient) + "=" + kSecret};
    args.insert(args.end(), extra.begin(), extra.end());
    auto sentinel = FakeSentinel::Start(args);
    ASSERT_TRUE(sentinel.ok()) << sentinel.status();
    sentinel_ = std::move(*sentinel);
    auto transport = CurlTransport::Create(io_, &wall_, TransportOptions{});
    ASSERT_TRUE(transport.ok()) << transport.status();
    transport_ = std::move(*transport);
  }
  void TearDown() override {
    dests_.clear();
    transport_.reset();
  }

  IntegrationConfig Config() const {
    IntegrationConfig c;
    c.id = 9;
    c.kind = IntegrationKind::kSentinelDcr;
    c.tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    c.client_id = kClient;
    c.client_secret = kSecret;
    c.authority = sentinel_->Url("");
    c.dce_endpoint = sentinel_->Url("");
    c.dcr_immutable_id = "dcr-0123456789abcdef0123456789abcdef";
    c.stream = kStream;
    return c;
  }

  SentinelDcrDestination* Make(const IntegrationConfig& config, Clock* clock = nullptr) {
    SentinelDcrOptions options;
    options.transport = transport_.get();
    options.clock = clock != nullptr ? clock : &wall_;
    auto dest = SentinelDcrDestination::Create(config, options);
    EXPECT_TRUE(dest.ok()) << dest.status();
    if (!dest.ok()) return nullptr;
    dests_.push_back(std::move(*dest));
    return dests_.back().get();
  }

  // BuildRequest, run until `done` ran (bounded).
  absl::StatusOr<HttpRequest> Build(Destination& dest, const std::vector<std::string>& records) {
    std::vector<std::string_view> views(records.begin(), records.end());
    auto result = std::make_shared<std::optional<absl::StatusOr<HttpRequest>>>();
    dest.BuildRequest({"create_user", views}, wall_.NowMs(),
                      [result](absl::StatusOr<HttpRequest> r) { *result = std::move(r); });
    if (!RunUntil(io_, [&] { return result->has_value(); })) {
      return absl::DeadlineExceededError("test: no request in time");
    }
    return **result;
  }

  HttpResponse Send(HttpRequest request) {
    return testing::Fetch(io_, *transport_, std::move(request));
  }

  // POST /control on the fake.
  void Control(const std::string& json) {
    HttpRequest r;
    r.url = sentinel_->Url("/control");
    r.body = json;
    ASSERT_EQ(Send(std::move(r)).status, 200);
  }

  static std::string Record(const std::string& id, const std::string& at) {
    return R"({"id":")" + id + R"(","event_type":"user_created","occurred_at":")" + at + R"("})";
  }

  testing::WallClock wall_;
  boost::asio::io_context io_;
  std::unique_ptr<FakeSentinel> sentinel_;
  std::unique_ptr<CurlTransport> transport_;
  std::vector<std::unique_ptr<SentinelDcrDestination>> dests_;
};

TEST_F(DcrNetTest, DeliversWithAFetchedToken) {
  Start();
  SentinelDcrDestination* dest = Make(Config());
  absl::StatusOr<HttpRequest> request =
      Build(*dest, {Record("a", "2023-11-14T22:13:20Z"), Record("b", "2023-11-14T22:14:20Z")});
  ASSERT_TRUE(request.ok()) << request.status();
  HttpResponse response = Send(*request);
  EXPECT_EQ(response.status, 204) << response.body;
  EXPECT_EQ(dest->Classify(response, wall_.NowMs()).verdict, Verdict::kDelivered);
  std::vector<std::string> lines = sentinel_->WaitForRecords(2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find(R"("log_type":"Custom-Outboxd_CL")"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find(R"("id":"b")"), std::string::npos) << lines[1];
  EXPECT_EQ(dest->token_provider().fetches(), 1u);
}

TEST_F(DcrNetTest, ConcurrentRequestsShareOneTokenFetch) {
  Start();
  SentinelDcrDestination* dest = Make(Config());
  std::vector<std::string_view> views;
  const std::string record = Record("a", "2023-11-14T22:13:20Z");
  views.push_back(record);
  size_t answered = 0;
  size_t delivered = 0;
  for (int i = 0; i < 20; ++i) {
    dest->BuildRequest({"create_user", views}, wall_.NowMs(),
                       [&](absl::StatusOr<HttpRequest> r) {
                         ASSERT_TRUE(r.ok()) << r.status();
                         transport_->Send(*std::move(r), [&](HttpResponse response) {
                           ++answered;
                           if (response.status == 204) ++delivered;
                         });
                       });
  }
  ASSERT_TRUE(RunUntil(io_, [&] { return answered == 20; }));
  EXPECT_EQ(delivered, 20u);
  EXPECT_EQ(dest->token_provider().fetches(), 1u);
}

TEST_F(DcrNetTest, AWrongSecretFailsTheRequest) {
  Start();
  IntegrationConfig c = Config();
  c.client_secret = "wrong";
  absl::StatusOr<HttpRequest> request = Build(*Make(c), {Record("a", "2023-11-14T22:13:20Z")});
  EXPECT_EQ(request.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(request.status().ToString().find("401 invalid_client: AADSTS7000215"),
            std::string::npos)
      << request.status();
}

TEST_F(DcrNetTest, AFailingTokenEndpointFailsTheRequest) {
  Start({"--token-fail-rate", "1"});
  SentinelDcrDestination* dest = Make(Config());
  for (int attempt = 1; attempt <= 2; ++attempt) {
    absl::StatusOr<HttpRequest> request = Build(*dest, {Record("a", "2023-11-14T22:13:20Z")});
    EXPECT_EQ(request.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(request.status().ToString().find("503 temporarily_unavailable"), std::string::npos)
        << request.status();
    EXPECT_EQ(dest->token_provider().fetches(), static_cast<uint64_t>(attempt));
  }
}

TEST_F(DcrNetTest, RefreshesTheTokenBeforeItExpires) {
  Start({"--token-ttl", "3600"});
  FakeClock clock(wall_.NowMs());  // the destination's view of time
  SentinelDcrDestination* dest = Make(Config(), &clock);
  const std::vector<std::string> records = {Record("a", "2023-11-14T22:13:20Z")};
  absl::StatusOr<HttpRequest> first = Build(*dest, records);
  ASSERT_TRUE(first.ok()) << first.status();
  clock.Advance(56 * kMinuteMs);
  absl::StatusOr<HttpRequest> second = Build(*dest, records);  // old token, refresh starts
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(dest->token_provider().fetches(), 2u);
  ASSERT_TRUE(RunUntil(io_, [&] { return !dest->token_provider().fetching(); }));
  absl::StatusOr<HttpRequest> third = Build(*dest, records);
  ASSERT_TRUE(third.ok());
  auto authorization = [](const HttpRequest& r) {
    for (const auto& [k, v] : r.headers)
      if (k == "Authorization") return v;
    return std::string();
  };
  EXPECT_EQ(authorization(*first), authorization(*second));
  EXPECT_NE(authorization(*second), authorization(*third));
  EXPECT_EQ(Send(*third).status, 204);
}

TEST_F(DcrNetTest, RecordsOverThirtyMinutesSplit) {
  Start();
  SentinelDcrDestination* dest = Make(Config());
  const std::string early = Record("a", "2023-11-14T22:00:00Z");
  const std::string late = Record("b", "2023-11-14T22:31:00Z");
  HttpResponse response = Send(Build(*dest, {early, late}).value());
  EXPECT_EQ(response.status, 400);
  const Answer answer = dest->Classify(response, wall_.NowMs());
  EXPECT_EQ(answer.verdict, Verdict::kSplit);
  EXPECT_FALSE(answer.counts_as_failure);
  EXPECT_EQ(answer.error_code, "RecordsTimeRangeIsMoreThan30Minutes");
  EXPECT_EQ(Send(Build(*dest, {early}).value()).status, 204);
  EXPECT_EQ(Send(Build(*dest, {late}).value()).status, 204);
}

TEST_F(DcrNetTest, TooLargeSplits) {
  Start();
  SentinelDcrDestination* dest = Make(Config());
  HttpRequest request = Build(*dest, {Record("a", "2023-11-14T22:00:00Z")}).value();
  // Bigger than any body the destination builds: 1.2 MB of JSON, gzipped.
  const std::string big = "[{\"pad\":\"" + std::string(1'200'000, 'x') + "\"}]";
  request.body = GzipCompress(big).value();
  HttpResponse response = Send(request);
  EXPECT_EQ(response.status, 413);
  const Answer answer = dest->Classify(response, wall_.NowMs());
  EXPECT_EQ(answer.verdict, Verdict::kSplit);
  EXPECT_EQ(answer.error_code, "ContentLengthLimitExceeded");
}

TEST_F(DcrNetTest, TooManyRequestsHonoursRetryAfter) {
  Start();
  SentinelDcrDestination* dest = Make(Config());
  Control(R"({"fail_rate":1,"fail_status":429,"retry_after":7})");
  HttpResponse response = Send(Build(*dest, {Record("a", "2023-11-14T22:00:00Z")}).value());
  EXPECT_EQ(response.status, 429);
  const Answer answer = dest->Classify(response, wall_.NowMs());
  EXPECT_EQ(answer.verdict, Verdict::kRetry);
  EXPECT_TRUE(answer.counts_as_failure);
  EXPECT_EQ(answer.retry_after_ms, 7 * kSecondMs);
  EXPECT_EQ(answer.error_code, "TooManyRequests");
  Control(R"({"clear":true})");
  EXPECT_EQ(Send(Build(*dest, {Record("a", "2023-11-14T22:00:00Z")}).value()).status, 204);
}

TEST_F(DcrNetTest, UnauthorizedFetchesANewToken) {
  Start();
  SentinelDcrDestination* dest = Make(Config());
  const std::vector<std::string> records = {Record("a", "2023-11-14T22:00:00Z")};
  Control(R"({"fail_rate":1,"fail_status":401})");
  HttpResponse refused = Send(Build(*dest, records).value());
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(dest->Classify(refused, wall_.NowMs()).verdict, Verdict::kRetry);
  Control(R"({"clear":true})");
  HttpResponse response = Send(Build(*dest, records).value());
  EXPECT_EQ(response.status, 204);
  EXPECT_EQ(dest->token_provider().fetches(), 2u);
}

TEST_F(DcrNetTest, FactoryWithSharedProviders) {
  Start();
  DestinationOptions options;
  options.transport = transport_.get();
  options.tokens = std::make_shared<TokenProviders>(transport_.get(), &wall_);
  auto a = MakeDestination(Config(), options);
  auto b = MakeDestination(Config(), options);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::vector<std::string> records = {Record("a", "2023-11-14T22:00:00Z")};
  EXPECT_EQ(Send(Build(**a, records).value()).status, 204);
  EXPECT_EQ(Send(Build(**b, records).value()).status, 204);
  TokenCredential credential = DcrTokenCredential(Config()).value();
  EXPECT_EQ(options.tokens->Get(credential)->fetches(), 1u);
}

}  // namespace
}  // namespace outboxd
