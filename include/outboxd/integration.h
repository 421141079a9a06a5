// An integration: one destination of one company, as the dispatcher and the
// management API see it. Secrets are plaintext only in memory; at rest they
// are encrypted (src/api/secrets) and over the API they are masked.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "outboxd/clock.h"
#include "outboxd/event.h"

namespace outboxd {

enum class IntegrationKind : uint8_t { kSentinel, kSentinelDcr };

// enabled: delivers. disabled: by a user; receives no new events, keeps its
// queue. broken: disabled by the failure rule; new events are still queued
// (parked) so re-enabling loses nothing. deleting: removed by a user; only
// its own last notice is still delivered, then it is purged.
enum class IntegrationState : uint8_t { kEnabled, kDisabled, kBroken, kDeleting };

// Integration ids are below 2^63. The deliveries an integration must still
// get after it stopped (its own "disabled"/"deleted"/"broken" notice) live
// in its notice lane, id | kNoticeLaneBit: the dispatcher sends them with the
// integration's destination while its main queue stays parked.
inline constexpr uint64_t kNoticeLaneBit = 1ull << 63;
inline constexpr uint64_t NoticeLaneOf(uint64_t id) { return id | kNoticeLaneBit; }
inline constexpr uint64_t IntegrationOfLane(uint64_t lane) { return lane & ~kNoticeLaneBit; }
inline constexpr bool IsNoticeLane(uint64_t lane) { return (lane & kNoticeLaneBit) != 0; }

std::string_view KindName(IntegrationKind kind);      // "sentinel", "sentinel_dcr"
std::string_view StateName(IntegrationState state);   // "enabled", ...

// 8-4-4-4-12 hex digits, either case (a workspace ID, a client ID, a
// tenant). A workspace ID becomes a host name, so nothing else may pass.
bool IsGuid(std::string_view s);

struct IntegrationConfig {
  uint64_t id = 0;
  uint64_t company_id = 0;
  std::string name;
  IntegrationKind kind = IntegrationKind::kSentinel;
  IntegrationState state = IntegrationState::kEnabled;
  Selection events;
  std::string table;                     // custom log type, without "_CL"
  std::string time_field = "occurred_at";
  std::string cloud = "public";          // public | usgov | china
  std::string endpoint;                  // base URL override (needs the flag)

  // kind == sentinel
  std::string workspace_id;              // a GUID
  std::string primary_key;               // base64 (secret)

  // kind == sentinel_dcr
  std::string tenant_id;
  std::string client_id;
  std::string client_secret;             // secret
  std::string dce_endpoint;
  std::string dcr_immutable_id;
  std::string stream;
  std::string authority;                 // token service base URL override

  TimeMs created_ms = 0;
  TimeMs updated_ms = 0;
  uint64_t version = 0;                  // bumped on every change

  // Whether the dispatcher sends this integration's queued deliveries (its
  // notice lane delivers in every state).
  bool Delivers() const { return state == IntegrationState::kEnabled; }
  // Whether ingest routes new events to it (broken ones park them).
  bool AcceptsNewEvents() const {
    return state == IntegrationState::kEnabled || state == IntegrationState::kBroken;
  }
};

}  // namespace outboxd
