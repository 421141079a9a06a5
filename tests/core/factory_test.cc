#include "destinations/factory.h"

#include <memory>
#include <string_view>
#include <vector>

#include "destinations/token_provider.h"
#include "fakes/scripted_transport.h"
#include "gtest/gtest.h"

namespace outboxd {
namespace {

IntegrationConfig SentinelConfig() {
  IntegrationConfig c;
  c.id = 1;
  c.kind = IntegrationKind::kSentinel;
  c.workspace_id = "7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5b";
  c.primary_key = "c2VjcmV0LWtleS1ieXRlcw==";  // base64("secret-key-bytes")
  return c;
}

TEST(MakeDestinationTest, BuildsSentinel) {
  absl::StatusOr<std::unique_ptr<Destination>> dest =
      MakeDestination(SentinelConfig(), {});
  ASSERT_TRUE(dest.ok()) << dest.status();
  EXPECT_EQ((*dest)->limits().max_body_bytes, 8u << 20);
  HttpResponse ok;
  ok.status = 200;
  EXPECT_EQ((*dest)->Classify(ok, 0).verdict, Verdict::kDelivered);
}

TEST(MakeDestinationTest, PassesOptions) {
  DestinationOptions options;
  options.max_body_bytes = 1000;
  options.request_timeout_ms = 1234;
  absl::StatusOr<std::unique_ptr<Destination>> dest =
      MakeDestination(SentinelConfig(), options);
  ASSERT_TRUE(dest.ok());
  EXPECT_EQ((*dest)->limits().max_body_bytes, 1000u);
  const std::vector<std::string_view> records = {"{}"};
  absl::StatusOr<HttpRequest> request;
  (*dest)->BuildRequest({"t", records}, 0,
                        [&](absl::StatusOr<HttpRequest> r) { request = r; });
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->timeout_ms, 1234);
}

TEST(MakeDestinationTest, InvalidConfig) {
  IntegrationConfig c = SentinelConfig();
  c.workspace_id = "nope";
  EXPECT_EQ(MakeDestination(c, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

IntegrationConfig DcrConfig() {
  IntegrationConfig c;
  c.id = 2;
  c.kind = IntegrationKind::kSentinelDcr;
  c.tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47";
  c.client_id = "11111111-2222-3333-4444-555555555555";
  c.client_secret = "secret";
  c.dce_endpoint = "https://my-dce.westeurope-1.ingest.monitor.azure.com";
  c.dcr_immutable_id = "dcr-0123456789abcdef0123456789abcdef";
  c.stream = "Custom-Outboxd_CL";
  return c;
}

TEST(MakeDestinationTest, DcrNeedsATransport) {
  absl::Status status = MakeDestination(DcrConfig(), {}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
}

TEST(MakeDestinationTest, BuildsDcrWithSharedTokens) {
  FakeClock clock;
  ScriptedTransport transport;
  DestinationOptions options;
  options.max_body_bytes = 4000;
  options.request_timeout_ms = 1234;
  options.transport = &transport;
  options.clock = &clock;
  options.tokens = std::make_shared<TokenProviders>(&transport, &clock);
  auto main_lane = MakeDestination(DcrConfig(), options);
  auto notice_lane = MakeDestination(DcrConfig(), options);
  ASSERT_TRUE(main_lane.ok()) << main_lane.status();
  ASSERT_TRUE(notice_lane.ok());
  EXPECT_EQ((*main_lane)->limits().max_body_bytes, 4000u);
  EXPECT_EQ((*main_lane)->limits().max_time_span_ms, 30 * kMinuteMs);

  const std::vector<std::string_view> records = {"{}"};
  std::vector<absl::StatusOr<HttpRequest>> built;
  for (auto* dest : {main_lane->get(), notice_lane->get()}) {
    dest->BuildRequest({"t", records}, clock.NowMs(),
                       [&](absl::StatusOr<HttpRequest> r) { built.push_back(std::move(r)); });
  }
  ASSERT_EQ(transport.pending().size(), 1u);  // one token fetch for both
  transport.Complete(0, ScriptedTransport::Status(
                            200, R"({"access_token":"tok","expires_in":3599})"));
  ASSERT_EQ(built.size(), 2u);
  for (const auto& r : built) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->timeout_ms, 1234);
  }
}

}  // namespace
}  // namespace outboxd
