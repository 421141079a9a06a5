#include "destinations/factory.h"

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

TEST(MakeDestinationTest, DcrIsNotAvailableYet) {
  IntegrationConfig c;
  c.kind = IntegrationKind::kSentinelDcr;
  absl::Status status = MakeDestination(c, {}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(std::string(status.message()).rfind("sentinel_dcr", 0), 0u) << status;
}

}  // namespace
}  // namespace outboxd
