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
