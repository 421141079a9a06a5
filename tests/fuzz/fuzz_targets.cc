#include "fuzz_targets.h"

#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/ingest_parser.h"
#include "api/integration_json.h"
#include "outboxd/strings.h"
#include "simdjson.h"

namespace outboxd::fuzz {
namespace {

std::string FactsOf(const ParsedEvent& e) {
  return absl::StrCat(e.id, "|", e.company_id, "|", static_cast<int>(e.facts.type), "|",
                      static_cast<int>(e.facts.risk), "|", e.facts.experimental, "|",
                      e.facts.sampled, "|", e.occurred_at_ms);
}

// An accepted event: within the limits, and its minified text parses alone
// to the same event and the same text.
std::optional<std::string> CheckEvent(const ParsedEvent& e, const IngestLimits& limits) {
  if (e.id.empty() || e.id.size() > limits.max_id_bytes) return "accepted a bad id length";
  if (e.company_id == 0) return "accepted company_id 0";
  if (e.raw.empty() || e.raw.size() > limits.max_event_bytes) return "raw event size off";
  if (e.raw.find('\n') != std::string::npos) return "raw event holds a newline";
  IngestParseResult again = ParseEvents(e.raw, BodyFormat::kNdjson, limits);
  if (!again.ok() || again.events.size() != 1) {
    return absl::StrCat("an accepted event does not re-parse: ", Sv(e.raw),
                        again.ok() ? "" : " -> " + again.error->message);
  }
  if (again.events[0].raw != e.raw) return "minifying is not idempotent";
  if (FactsOf(again.events[0]) != FactsOf(e)) return "re-parsed event differs";
  return std::nullopt;
}

// The handler's parse (compact events left in the body it keeps) must
// accept, reject and read everything exactly as the copying one.
std::optional<std::string> CheckKeepingBody(std::string_view data, BodyFormat format,
                                            const IngestLimits& limits,
                                            const IngestParseResult& copied) {
  IngestParseResult kept = ParseEventsKeepingBody(std::string(data), format, limits);
  const IngestParseResult moved = std::move(kept);  // the events must survive a move
  if (moved.ok() != copied.ok()) return "keeping the body changes the verdict";
  if (!moved.ok()) {
    if (moved.error->line != copied.error->line ||
        moved.error->field != copied.error->field ||
        moved.error->message != copied.error->message) {
      return "keeping the body changes the error";
    }
    return std::nullopt;
  }
  if (moved.events.size() != copied.events.size())
    return "keeping the body changes the count";
  for (size_t i = 0; i < moved.events.size(); ++i) {
    const ParsedEvent& a = moved.events[i];
    const ParsedEvent& b = copied.events[i];
    if (a.raw != b.raw || a.id != b.id || a.company_id != b.company_id ||
        a.occurred_at_ms != b.occurred_at_ms || FactsOf(a) != FactsOf(b)) {
      return absl::StrCat("keeping the body changes event ", i + 1);
    }
  }
  return std::nullopt;
}

std::optional<std::string> CheckIngestOnce(std::string_view data, BodyFormat format,
                                           const IngestLimits& limits) {
  IngestParseResult r = ParseEvents(data, format, limits);
  if (auto bad = CheckKeepingBody(data, format, limits, r)) return bad;
  if (!r.ok()) {
    if (!r.events.empty()) return "an error came with events";
    if (r.error->line < 1) return absl::StrCat("error line ", r.error->line, " is not 1-based");
    if (r.error->message.empty()) return "an error without a message";
    if (r.error->field.has_value() && r.error->field->empty()) return "an empty error field";
    return std::nullopt;
  }
  for (const ParsedEvent& e : r.events) {
    if (auto bad = CheckEvent(e, limits)) return bad;
  }
  if (r.events.empty()) return std::nullopt;
  // The same events sent the other way must be accepted alike.
  std::string other;
  const bool to_array = format == BodyFormat::kNdjson;
  if (to_array) other = "[";
  for (size_t i = 0; i < r.events.size(); ++i) {
    if (to_array && i > 0) other += ",";
    other += r.events[i].raw;
    if (!to_array) other += "\n";
  }
  if (to_array) other += "]";
  IngestParseResult swapped =
      ParseEvents(other, to_array ? BodyFormat::kJsonArray : BodyFormat::kNdjson, limits);
  if (!swapped.ok() || swapped.events.size() != r.events.size()) {
    return absl::StrCat("the other format rejects the same events: ",
                        swapped.ok() ? "count differs" : swapped.error->message);
  }
  return std::nullopt;
}

// The API view of a config: valid JSON, every secret it has masked.
std::optional<std::string> CheckRendering(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(json).get(object) != simdjson::SUCCESS) {
    return "IntegrationToJson wrote invalid JSON";
  }
  for (const char* secret : {"primary_key", "client_secret"}) {
    std::string_view value;
    auto field = object[secret];
    if (field.error() == simdjson::NO_SUCH_FIELD) continue;
    if (field.get(value) != simdjson::SUCCESS || value != kMaskedSecret) {
      return absl::StrCat("the API output shows ", secret, " unmasked");
    }
  }
  return std::nullopt;
}

// An accepted config renders to JSON that, sent back as a PATCH of itself,
// is accepted and changes nothing (secrets come back masked and are kept).
std::optional<std::string> CheckConfig(const IntegrationConfig& c,
                                       const ParseIntegrationOptions& options) {
  const std::string json = IntegrationToJson(c);
  if (auto bad = CheckRendering(json)) return bad;
  IntegrationParseResult back = ParseIntegration(json, &c, options);
  if (!back.ok()) {
    return absl::StrCat("own rendering rejected as a PATCH: ", back.error->field, ": ",
                        back.error->message);
  }
  if (IntegrationToJson(back.config) != json) return "a no-op PATCH changed the config";
  if (back.config.primary_key != c.primary_key || back.config.client_secret != c.client_secret) {
    return "a masked secret was not kept";
  }
  return std::nullopt;
}

std::optional<std::string> CheckIntegrationOnce(std::string_view data,
                                                const IntegrationConfig* base,
                                                const ParseIntegrationOptions& options) {
  IntegrationParseResult r = ParseIntegration(data, base, options);
  if (!r.ok()) {
    if (r.error->message.empty()) return "an error without a message";
    return std::nullopt;
  }
  if (r.config.company_id == 0) return "accepted company_id 0";
  if (r.config.name.empty()) return "accepted an empty name";
  if (base != nullptr &&
      (r.config.company_id != base->company_id || r.config.kind != base->kind ||
       r.config.id != base->id || r.config.version != base->version)) {
    return "a PATCH changed company_id, kind, id or version";
  }
  return CheckConfig(r.config, options);
}

IntegrationConfig StoredSentinel() {
  IntegrationConfig c;
  c.id = 42;
  c.company_id = 7;
  c.name = "SOC";
  c.kind = IntegrationKind::kSentinel;
  c.workspace_id = "0b0f5c3e-6a0f-4f55-9a3c-2f1d2b3c4d5e";
  // python3 -c 'import base64; print(base64.b64encode(bytes(range(32))).decode())'
  c.primary_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
  c.events.hits = true;
  c.created_ms = 1700000000000;
  c.updated_ms = 1700000001000;
  c.version = 3;
  return c;
}

IntegrationConfig StoredDcr() {
  IntegrationConfig c;
  c.id = 43;
  c.company_id = 7;
  c.name = "SOC DCR";
  c.kind = IntegrationKind::kSentinelDcr;
  c.tenant_id = "contoso.onmicrosoft.com";
  c.client_id = "0b0f5c3e-6a0f-4f55-9a3c-2f1d2b3c4d5e";
  c.client_secret = "s3cr3t~value";
  c.dce_endpoint = "https://my-dce-a1b2.westeurope-1.ingest.monitor.azure.com";
  c.dcr_immutable_id = "dcr-00000000000000000000000000000000";
  c.stream = "Custom-Wallarm";
  c.events.system = true;
  c.created_ms = 1700000000000;
  c.updated_ms = 1700000000000;
  c.version = 1;
  return c;
}

}  // namespace

std::optional<std::string> CheckIngestInput(std::string_view data) {
  IngestLimits tight;
  tight.max_event_bytes = 200;
  tight.max_depth = 3;
  tight.max_id_bytes = 16;
  for (const IngestLimits& limits : {IngestLimits{}, tight}) {
    for (BodyFormat format : {BodyFormat::kNdjson, BodyFormat::kJsonArray}) {
      if (auto bad = CheckIngestOnce(data, format, limits)) {
        return absl::StrCat(format == BodyFormat::kNdjson ? "ndjson" : "array",
                            limits.max_depth == tight.max_depth ? " (tight limits)" : "", ": ",
                            *bad);
      }
    }
  }
  DetectBodyFormat("application/json", data);
  return std::nullopt;
}

std::optional<std::string> CheckIntegrationInput(std::string_view data) {
  static const IntegrationConfig kSentinel = StoredSentinel();
  static const IntegrationConfig kDcr = StoredDcr();
  for (bool allow : {false, true}) {
    const ParseIntegrationOptions options{.allow_endpoint_override = allow};
    for (const IntegrationConfig* base : {static_cast<const IntegrationConfig*>(nullptr),
                                          &kSentinel, &kDcr}) {
      if (auto bad = CheckIntegrationOnce(data, base, options)) {
        return absl::StrCat(base == nullptr ? "create" : "patch",
                            allow ? " (override allowed)" : "", ": ", *bad);
      }
    }
  }
  return std::nullopt;
}

}  // namespace outboxd::fuzz
