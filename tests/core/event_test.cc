#include "outboxd/event.h"

#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace outboxd {
namespace {

using G = SelectionGroup;

// DESIGN.md "Event types and log types" and "Selection groups", written out
// again here (not derived from the implementation's table). In EventType
// order. The vulnerability's log type depends on the risk (tested apart).
struct Expected {
  const char* name;
  const char* log_type;
  SelectionGroup group;
};
const Expected kExpected[] = {
    {"hit", "new_hits", G::kHits},
    {"user_created", "create_user", G::kSystem},
    {"user_deleted", "delete_user", G::kSystem},
    {"user_role_updated", "update_user", G::kSystem},
    {"integration_deleted", "delete_integration", G::kSystem},
    {"integration_disabled", "disable_integration", G::kSystem},
    {"integration_broken", "integration_broken", G::kSystem},
    {"application_created", "create_application", G::kSystem},
    {"application_deleted", "delete_application", G::kSystem},
    {"application_renamed", "update_application", G::kSystem},
    {"vulnerability", "", G::kVulnerabilities},
    {"rule_created", "rule_create", G::kRulesAndTriggers},
    {"rule_deleted", "rule_delete", G::kRulesAndTriggers},
    {"rule_updated", "rule_update", G::kRulesAndTriggers},
    {"trigger_created", "trigger_create", G::kRulesAndTriggers},
    {"trigger_deleted", "trigger_delete", G::kRulesAndTriggers},
    {"trigger_updated", "trigger_update", G::kRulesAndTriggers},
    {"scope_object_changed", "scope_object", G::kScope},
    {"api_structure_changed", "api_structure_changed", G::kTriggered},
    {"attacks_exceeded", "attacks_exceeded", G::kTriggered},
    {"ip_blocked", "ip_blocked", G::kTriggered},
    {"requests_per_hour", "requests_per_hour", G::kHourlyReport},
};
static_assert(std::size(kExpected) == kEventTypeCount);

EventType TypeAt(int i) { return static_cast<EventType>(i); }

EventFacts Facts(EventType type, Risk risk = Risk::kNone) {
  EventFacts facts;
  facts.type = type;
  facts.risk = risk;
  return facts;
}

// Every event the catalog can carry: vulnerabilities once per risk level.
std::vector<EventFacts> AllEvents() {
  std::vector<EventFacts> all;
  for (int i = 0; i < kEventTypeCount; ++i) {
    if (TypeAt(i) == EventType::kVulnerability) {
      for (Risk r : {Risk::kHigh, Risk::kMedium, Risk::kLow}) {
        all.push_back(Facts(TypeAt(i), r));
      }
    } else {
      all.push_back(Facts(TypeAt(i)));
    }
  }
  return all;
}

Selection OnlyGroup(SelectionGroup group) {
  Selection s;
  switch (group) {
    case G::kHits:
      s.hits = true;
      break;
    case G::kSystem:
      s.system = true;
      break;
    case G::kVulnerabilities:
      s.vuln_high = s.vuln_medium = s.vuln_low = true;
      break;
    case G::kRulesAndTriggers:
      s.rules_and_triggers = true;
      break;
    case G::kScope:
      s.scope = true;
      break;
    case G::kTriggered:
      s.triggered = true;
      break;
    case G::kHourlyReport:
      s.hourly_report = true;
      break;
  }
  return s;
}

Selection Everything() {
  Selection s;
  s.hits = s.system = s.vuln_high = s.vuln_medium = s.vuln_low = true;
  s.rules_and_triggers = s.scope = s.triggered = s.hourly_report = true;
  return s;
}

TEST(EventCatalogTest, NamesFollowTheTableAndRoundTrip) {
  std::set<std::string> names;
  for (int i = 0; i < kEventTypeCount; ++i) {
    EXPECT_EQ(EventTypeName(TypeAt(i)), kExpected[i].name);
    std::optional<EventType> parsed = ParseEventType(kExpected[i].name);
    ASSERT_TRUE(parsed.has_value()) << kExpected[i].name;
    EXPECT_EQ(*parsed, TypeAt(i));
    names.insert(kExpected[i].name);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kEventTypeCount));
}

TEST(EventCatalogTest, RejectsNamesOutsideTheCatalog) {
  for (const char* bad : {"", "Hit", "HIT", "hits", "hit ", " hit", "new_hits",
                          "create_user", "vuln_high", "user", "requests_per_hour\n"}) {
    EXPECT_FALSE(ParseEventType(bad).has_value()) << '"' << bad << '"';
  }
  EXPECT_FALSE(ParseEventType(std::string_view("hit\0", 4)).has_value());
  EXPECT_EQ(EventTypeName(static_cast<EventType>(kEventTypeCount)), "");
}

TEST(EventCatalogTest, LogTypesFollowTheTable) {
  for (int i = 0; i < kEventTypeCount; ++i) {
    if (TypeAt(i) == EventType::kVulnerability) continue;
    EXPECT_EQ(DefaultLogType(Facts(TypeAt(i))), kExpected[i].log_type)
        << kExpected[i].name;
  }
  EXPECT_EQ(DefaultLogType(Facts(EventType::kVulnerability, Risk::kHigh)), "vuln_high");
  EXPECT_EQ(DefaultLogType(Facts(EventType::kVulnerability, Risk::kMedium)),
            "vuln_medium");
  EXPECT_EQ(DefaultLogType(Facts(EventType::kVulnerability, Risk::kLow)), "vuln_low");
  EXPECT_EQ(DefaultLogType(Facts(EventType::kVulnerability, Risk::kNone)), "");
}

TEST(EventCatalogTest, GroupsFollowTheTable) {
  for (int i = 0; i < kEventTypeCount; ++i) {
    EXPECT_EQ(GroupOf(TypeAt(i)), kExpected[i].group) << kExpected[i].name;
  }
}

TEST(EventCatalogTest, RiskNamesRoundTrip) {
  EXPECT_EQ(ParseRisk("high"), Risk::kHigh);
  EXPECT_EQ(ParseRisk("medium"), Risk::kMedium);
  EXPECT_EQ(ParseRisk("low"), Risk::kLow);
  for (Risk r : {Risk::kHigh, Risk::kMedium, Risk::kLow}) {
    EXPECT_EQ(ParseRisk(RiskName(r)), r);
  }
  for (const char* bad : {"", "none", "High", "critical", "low "}) {
    EXPECT_FALSE(ParseRisk(bad).has_value()) << bad;
  }
  EXPECT_EQ(RiskName(Risk::kNone), "");
}

TEST(SelectsTest, EachGroupRoutesOnlyItsOwnTypes) {
  const G groups[] = {G::kHits,  G::kSystem,    G::kVulnerabilities, G::kRulesAndTriggers,
                      G::kScope, G::kTriggered, G::kHourlyReport};
  for (G group : groups) {
    const Selection selection = OnlyGroup(group);
    int routed = 0;
    for (const EventFacts& facts : AllEvents()) {
      const bool expected = kExpected[static_cast<int>(facts.type)].group == group;
      EXPECT_EQ(Selects(selection, facts), expected)
          << "group " << static_cast<int>(group) << " event "
          << EventTypeName(facts.type);
      routed += expected;
    }
    EXPECT_GT(routed, 0);
  }
}

TEST(SelectsTest, NothingSelectedRoutesNothing) {
  for (const EventFacts& facts : AllEvents()) EXPECT_FALSE(Selects(Selection{}, facts));
}

TEST(SelectsTest, VulnerabilitiesByChosenRiskLevels) {
  Selection s;
  s.vuln_medium = true;
  EXPECT_FALSE(Selects(s, Facts(EventType::kVulnerability, Risk::kHigh)));
  EXPECT_TRUE(Selects(s, Facts(EventType::kVulnerability, Risk::kMedium)));
  EXPECT_FALSE(Selects(s, Facts(EventType::kVulnerability, Risk::kLow)));
  s.vuln_high = true;
  s.vuln_low = true;
  // A vulnerability without a risk matches no level.
  EXPECT_FALSE(Selects(s, Facts(EventType::kVulnerability, Risk::kNone)));
}

TEST(SelectsTest, ExperimentalOrUnsampledHitsAreNeverRouted) {
  EventFacts hit = Facts(EventType::kHit);
  EXPECT_TRUE(Selects(Everything(), hit));
  hit.experimental = true;
  EXPECT_FALSE(Selects(Everything(), hit));
  hit.experimental = false;
  hit.sampled = false;
  EXPECT_FALSE(Selects(Everything(), hit));
  hit.experimental = true;
  EXPECT_FALSE(Selects(Everything(), hit));
}

TEST(SelectsTest, HitFlagsDoNotAffectOtherEvents) {
  EventFacts user = Facts(EventType::kUserCreated);
  user.experimental = true;
  user.sampled = false;
  EXPECT_TRUE(Selects(Everything(), user));
}

TEST(RouteLogTypeTest, DefaultTableWithoutCustomTable) {
  for (const EventFacts& facts : AllEvents()) {
    EXPECT_EQ(RouteLogType(facts, ""), DefaultLogType(facts));
    EXPECT_FALSE(RouteLogType(facts, "").empty());
  }
}

TEST(RouteLogTypeTest, CustomTableTakesEveryEvent) {
  for (const EventFacts& facts : AllEvents()) {
    EXPECT_EQ(RouteLogType(facts, "wallarm_events"), "wallarm_events");
  }
}

TEST(StripCustomLogSuffixTest, RemovesOnlyAzureSuffix) {
  EXPECT_EQ(StripCustomLogSuffix("WallarmEvents_CL"), "WallarmEvents");
  EXPECT_EQ(StripCustomLogSuffix("WallarmEvents"), "WallarmEvents");
  EXPECT_EQ(StripCustomLogSuffix("A_CL_CL"), "A_CL");
  EXPECT_EQ(StripCustomLogSuffix("events_cl"), "events_cl");
  EXPECT_EQ(StripCustomLogSuffix("CL"), "CL");
  EXPECT_EQ(StripCustomLogSuffix("_CL"), "_CL");  // left for validation to judge
  EXPECT_EQ(StripCustomLogSuffix(""), "");
}

}  // namespace
}  // namespace outboxd
