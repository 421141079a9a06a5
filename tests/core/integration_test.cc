#include "outboxd/integration.h"

#include "gtest/gtest.h"

namespace outboxd {
namespace {

TEST(IntegrationTest, KindNames) {
  EXPECT_EQ(KindName(IntegrationKind::kSentinel), "sentinel");
  EXPECT_EQ(KindName(IntegrationKind::kSentinelDcr), "sentinel_dcr");
  EXPECT_EQ(KindName(static_cast<IntegrationKind>(9)), "");
}

TEST(IntegrationTest, StateNames) {
  EXPECT_EQ(StateName(IntegrationState::kEnabled), "enabled");
  EXPECT_EQ(StateName(IntegrationState::kDisabled), "disabled");
  EXPECT_EQ(StateName(IntegrationState::kBroken), "broken");
  EXPECT_EQ(StateName(IntegrationState::kDeleting), "deleting");
  EXPECT_EQ(StateName(static_cast<IntegrationState>(9)), "");
}

}  // namespace
}  // namespace outboxd

namespace outboxd {
namespace {

TEST(IsGuidTest, EightFourFourFourTwelveHexDigits) {
  EXPECT_TRUE(IsGuid("0f8fad5b-d9cb-469f-a165-70867728950e"));
  EXPECT_TRUE(IsGuid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
  for (const char* bad : {"", "0f8fad5bd9cb469fa16570867728950e",
                          "0f8fad5b-d9cb-469f-a165-70867728950",
                          "0f8fad5b-d9cb-469f-a165-70867728950e0",
                          "0f8fad5b-d9cb-469f-a165_70867728950e",
                          "0f8fad5g-d9cb-469f-a165-70867728950e",
                          "evil.example.com/x-469f-a165-7086772895"}) {
    EXPECT_FALSE(IsGuid(bad)) << bad;
  }
}

}  // namespace
}  // namespace outboxd
