// The management API's JSON for integrations: parsing a create / PATCH
// body into an IntegrationConfig with field-level errors, and rendering a
// config with its secrets masked.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "api/json_writer.h"
#include "outboxd/integration.h"

namespace outboxd {

// What every secret looks like in API output. Sent back unchanged in a
// PATCH (any run of '*'), it keeps the stored secret.
inline constexpr std::string_view kMaskedSecret = "********";

struct ParseIntegrationOptions {
  // --allow-endpoint-override: lets `endpoint`, a non-default `authority`
  // and a `dce_endpoint` outside Azure Monitor's ingestion hosts through.
  bool allow_endpoint_override = false;
};

struct FieldError {
  std::string field;  // e.g. "workspace_id", "events.hitz"; empty for the whole body
  std::string message;
};

struct IntegrationParseResult {
  IntegrationConfig config;  // valid when error is unset
  std::optional<FieldError> error;
  bool ok() const { return !error.has_value(); }
};

// Parses a POST /v1/integrations body (`base` null) or a PATCH body
// (`base` = the stored config; only the given fields change, `events`
// members included). Validates per DESIGN.md "API contract": on create
// company_id, name and kind are required, plus workspace_id and primary_key
// for `sentinel`, tenant_id, client_id, client_secret, dce_endpoint,
// dcr_immutable_id and stream for `sentinel_dcr`. Fields of the other kind
// and unknown fields are errors naming the field. Read-only fields (id,
// state, created_at, updated_at, version) pass only unchanged, so a GET's
// output can be edited and sent back. company_id and kind cannot change on
// PATCH. A new or changed endpoint, authority or dce_endpoint is checked
// against ParseIntegrationOptions. `table` is stored without "_CL"; an
// `authority` equal to the cloud's default is stored empty. id, state,
// times and version are left as in `base` (or defaults).
IntegrationParseResult ParseIntegration(std::string_view json,
                                        const IntegrationConfig* base,
                                        const ParseIntegrationOptions& options);

// The API view: id, company_id, name, kind, state, events, table,
// time_field, cloud, the kind's own fields with secrets as kMaskedSecret,
// the effective authority (sentinel_dcr), created_at / updated_at (RFC 3339)
// and version.
std::string IntegrationToJson(const IntegrationConfig& config);
void WriteIntegrationJson(const IntegrationConfig& config, JsonWriter* out);

// Token service base URL of a cloud ("public", "usgov", "china"); empty for
// an unknown cloud.
std::string_view DefaultAuthority(std::string_view cloud);

// "sentinel" | "sentinel_dcr"; "enabled" | "disabled" | "broken" | "deleting".
std::optional<IntegrationKind> ParseKindName(std::string_view name);
std::optional<IntegrationState> ParseStateName(std::string_view name);

}  // namespace outboxd
