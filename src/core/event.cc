#include "outboxd/event.h"

#include <array>
#include <cstddef>

namespace outboxd {
namespace {

struct EventInfo {
  EventType type;
  std::string_view name;
  SelectionGroup group;
  // Empty for kVulnerability: its log type depends on the risk.
  std::string_view log_type;
};

using G = SelectionGroup;
using E = EventType;

// DESIGN.md "Event types and log types" and "Selection groups". Indexed by
// EventType; the static_assert below keeps the order honest.
constexpr std::array<EventInfo, kEventTypeCount> kEvents = {{
    {E::kHit, "hit", G::kHits, "new_hits"},
    {E::kUserCreated, "user_created", G::kSystem, "create_user"},
    {E::kUserDeleted, "user_deleted", G::kSystem, "delete_user"},
    {E::kUserRoleUpdated, "user_role_updated", G::kSystem, "update_user"},
    {E::kIntegrationDeleted, "integration_deleted", G::kSystem, "delete_integration"},
    {E::kIntegrationDisabled, "integration_disabled", G::kSystem, "disable_integration"},
    {E::kIntegrationBroken, "integration_broken", G::kSystem, "integration_broken"},
    {E::kApplicationCreated, "application_created", G::kSystem, "create_application"},
    {E::kApplicationDeleted, "application_deleted", G::kSystem, "delete_application"},
    {E::kApplicationRenamed, "application_renamed", G::kSystem, "update_application"},
    {E::kVulnerability, "vulnerability", G::kVulnerabilities, ""},
    {E::kRuleCreated, "rule_created", G::kRulesAndTriggers, "rule_create"},
    {E::kRuleDeleted, "rule_deleted", G::kRulesAndTriggers, "rule_delete"},
    {E::kRuleUpdated, "rule_updated", G::kRulesAndTriggers, "rule_update"},
    {E::kTriggerCreated, "trigger_created", G::kRulesAndTriggers, "trigger_create"},
    {E::kTriggerDeleted, "trigger_deleted", G::kRulesAndTriggers, "trigger_delete"},
    {E::kTriggerUpdated, "trigger_updated", G::kRulesAndTriggers, "trigger_update"},
    {E::kScopeObjectChanged, "scope_object_changed", G::kScope, "scope_object"},
    {E::kApiStructureChanged, "api_structure_changed", G::kTriggered,
     "api_structure_changed"},
    {E::kAttacksExceeded, "attacks_exceeded", G::kTriggered, "attacks_exceeded"},
    {E::kIpBlocked, "ip_blocked", G::kTriggered, "ip_blocked"},
    {E::kRequestsPerHour, "requests_per_hour", G::kHourlyReport, "requests_per_hour"},
}};

constexpr bool TableIsIndexedByType() {
  for (size_t i = 0; i < kEvents.size(); ++i) {
    if (static_cast<size_t>(kEvents[i].type) != i) return false;
  }
  return true;
}
static_assert(TableIsIndexedByType(), "kEvents must be in EventType order");

// Indexed by Risk.
constexpr std::array<std::string_view, 4> kRiskNames = {"", "high", "medium", "low"};
constexpr std::array<std::string_view, 4> kVulnLogTypes = {"", "vuln_high", "vuln_medium",
                                                           "vuln_low"};
constexpr std::array<bool Selection::*, 4> kRiskFlags = {
    nullptr, &Selection::vuln_high, &Selection::vuln_medium, &Selection::vuln_low};

// Indexed by SelectionGroup; kVulnerabilities selects by risk (kRiskFlags).
constexpr std::array<bool Selection::*, 7> kGroupFlags = {&Selection::hits,
                                                          &Selection::system,
                                                          nullptr,
                                                          &Selection::rules_and_triggers,
                                                          &Selection::scope,
                                                          &Selection::triggered,
                                                          &Selection::hourly_report};
static_assert(static_cast<size_t>(SelectionGroup::kHourlyReport) + 1 ==
              kGroupFlags.size());

const EventInfo* Info(EventType type) {
  const auto i = static_cast<size_t>(type);
  return i < kEvents.size() ? &kEvents[i] : nullptr;
}

size_t RiskIndex(Risk risk) {
  const auto i = static_cast<size_t>(risk);
  return i < kRiskNames.size() ? i : 0;
}

}  // namespace

std::optional<EventType> ParseEventType(std::string_view name) {
  for (const EventInfo& info : kEvents) {
    if (info.name == name) return info.type;
  }
  return std::nullopt;
}

std::string_view EventTypeName(EventType type) {
  const EventInfo* info = Info(type);
  return info != nullptr ? info->name : std::string_view();
}

SelectionGroup GroupOf(EventType type) {
  const EventInfo* info = Info(type);
  return info != nullptr ? info->group : SelectionGroup::kHits;
}

std::optional<Risk> ParseRisk(std::string_view name) {
  for (size_t i = 1; i < kRiskNames.size(); ++i) {
    if (kRiskNames[i] == name) return static_cast<Risk>(i);
  }
  return std::nullopt;
}

std::string_view RiskName(Risk risk) { return kRiskNames[RiskIndex(risk)]; }

std::string_view DefaultLogType(const EventFacts& facts) {
  if (facts.type == EventType::kVulnerability) {
    return kVulnLogTypes[RiskIndex(facts.risk)];
  }
  const EventInfo* info = Info(facts.type);
  return info != nullptr ? info->log_type : std::string_view();
}

bool Selects(const Selection& selection, const EventFacts& facts) {
  const EventInfo* info = Info(facts.type);
  if (info == nullptr) return false;
  if (facts.type == EventType::kHit && (facts.experimental || !facts.sampled)) {
    return false;
  }
  bool Selection::*flag = info->group == SelectionGroup::kVulnerabilities
                              ? kRiskFlags[RiskIndex(facts.risk)]
                              : kGroupFlags[static_cast<size_t>(info->group)];
  return flag != nullptr && selection.*flag;
}

std::string_view RouteLogType(const EventFacts& facts, std::string_view custom_table) {
  return custom_table.empty() ? DefaultLogType(facts) : custom_table;
}

std::string_view StripCustomLogSuffix(std::string_view table) {
  constexpr std::string_view kSuffix = "_CL";
  // "_CL" alone stays as it is so that validation sees a name, not "".
  if (table.size() > kSuffix.size() && table.ends_with(kSuffix)) {
    table.remove_suffix(kSuffix.size());
  }
  return table;
}

}  // namespace outboxd
