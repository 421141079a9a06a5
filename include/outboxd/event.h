// The event catalog: every event type outboxd accepts, its Sentinel log type,
// the selection group an integration subscribes to, and the routing decision.
//
// Pure functions, no I/O. The tables follow ../shared/DESIGN.md ("Event types
// and log types", "Selection groups").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace outboxd {

enum class EventType : uint8_t {
  kHit,
  kUserCreated,
  kUserDeleted,
  kUserRoleUpdated,
  kIntegrationDeleted,
  kIntegrationDisabled,
  kIntegrationBroken,
  kApplicationCreated,
  kApplicationDeleted,
  kApplicationRenamed,
  kVulnerability,
  kRuleCreated,
  kRuleDeleted,
  kRuleUpdated,
  kTriggerCreated,
  kTriggerDeleted,
  kTriggerUpdated,
  kScopeObjectChanged,
  kApiStructureChanged,
  kAttacksExceeded,
  kIpBlocked,
  kRequestsPerHour,
};
inline constexpr int kEventTypeCount = 22;

// What an integration can select (DESIGN.md "Selection groups").
enum class SelectionGroup : uint8_t {
  kHits,
  kSystem,             // user_*, integration_*, application_*
  kVulnerabilities,    // by risk level
  kRulesAndTriggers,   // rule_*, trigger_*
  kScope,              // scope_object_changed
  kTriggered,          // api_structure_changed, attacks_exceeded, ip_blocked
  kHourlyReport,       // requests_per_hour
};

enum class Risk : uint8_t { kNone, kHigh, kMedium, kLow };

// "hit" -> kHit ... ; nullopt for names not in the catalog.
std::optional<EventType> ParseEventType(std::string_view name);
std::string_view EventTypeName(EventType type);
SelectionGroup GroupOf(EventType type);

// "high" | "medium" | "low"; nullopt otherwise.
std::optional<Risk> ParseRisk(std::string_view name);
std::string_view RiskName(Risk risk);

// The facts routing needs about one event, extracted by the ingest parser.
struct EventFacts {
  EventType type = EventType::kHit;
  Risk risk = Risk::kNone;     // set for kVulnerability only
  bool experimental = false;   // hit found by a custom regular expression
  bool sampled = true;         // false: hit not saved in the sample
};

// The log type (Azure table name without "_CL") of an event when the
// integration has no custom table. kVulnerability needs a risk; with
// Risk::kNone it returns an empty view.
std::string_view DefaultLogType(const EventFacts& facts);

// An integration's event selection (API field "events").
struct Selection {
  bool hits = false;
  bool system = false;
  bool vuln_high = false;
  bool vuln_medium = false;
  bool vuln_low = false;
  bool rules_and_triggers = false;
  bool scope = false;
  bool triggered = false;
  bool hourly_report = false;

  friend bool operator==(const Selection&, const Selection&) = default;
};

// Whether an integration with `selection` receives the event. Hits flagged
// experimental or not sampled are never routed, whatever the selection.
bool Selects(const Selection& selection, const EventFacts& facts);

// The log type a routed event is sent under: `custom_table` (already
// stripped of "_CL") when not empty — every record then carries its own
// `event_type` — else DefaultLogType(facts).
std::string_view RouteLogType(const EventFacts& facts, std::string_view custom_table);

// "Table_CL" -> "Table"; other names unchanged.
std::string_view StripCustomLogSuffix(std::string_view table);

}  // namespace outboxd
