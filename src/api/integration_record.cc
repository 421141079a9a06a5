#include "api/integration_record.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "api/absl_compat.h"
#include "api/integration_json.h"
#include "api/json_writer.h"
#include "outboxd/signer.h"
#include "simdjson.h"

namespace outboxd {
namespace {

namespace dom = simdjson::dom;

constexpr uint64_t kRecordVersion = 1;

struct TextField {
  std::string_view name;
  std::string IntegrationConfig::*member;
};
constexpr TextField kTextFields[] = {
    {"name", &IntegrationConfig::name},
    {"table", &IntegrationConfig::table},
    {"time_field", &IntegrationConfig::time_field},
    {"cloud", &IntegrationConfig::cloud},
    {"endpoint", &IntegrationConfig::endpoint},
    {"workspace_id", &IntegrationConfig::workspace_id},
    {"tenant_id", &IntegrationConfig::tenant_id},
    {"client_id", &IntegrationConfig::client_id},
    {"dce_endpoint", &IntegrationConfig::dce_endpoint},
    {"dcr_immutable_id", &IntegrationConfig::dcr_immutable_id},
    {"stream", &IntegrationConfig::stream},
    {"authority", &IntegrationConfig::authority},
};

struct SecretField {
  std::string_view name;       // the API field, bound into the ciphertext
  std::string_view json_name;  // the record key
  std::string IntegrationConfig::*member;
};
constexpr SecretField kSecretFields[] = {
    {"primary_key", "primary_key_enc", &IntegrationConfig::primary_key},
    {"client_secret", "client_secret_enc", &IntegrationConfig::client_secret},
};

struct SelectionBit {
  std::string_view name;
  bool Selection::*member;
};
constexpr SelectionBit kSelectionBits[] = {
    {"hits", &Selection::hits},
    {"system", &Selection::system},
    {"vuln_high", &Selection::vuln_high},
    {"vuln_medium", &Selection::vuln_medium},
    {"vuln_low", &Selection::vuln_low},
    {"rules_and_triggers", &Selection::rules_and_triggers},
    {"scope", &Selection::scope},
    {"triggered", &Selection::triggered},
    {"hourly_report", &Selection::hourly_report},
};

absl::Status Corrupt(std::string_view why) {
  return absl::DataLossError(absl::StrCat("integration record: ", ToAbsl(why)));
}

absl::Status ReadSelection(dom::element value, Selection* selection) {
  dom::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) return Corrupt("events");
  for (const SelectionBit& bit : kSelectionBits) {
    dom::element flag;
    if (object.at_key(bit.name).get(flag) != simdjson::SUCCESS) continue;
    if (flag.get_bool().get(selection->*bit.member) != simdjson::SUCCESS) {
      return Corrupt(bit.name);
    }
  }
  return absl::OkStatus();
}

absl::Status ReadSecret(const SecretField& field, dom::element value,
                        const SecretBox& box, IntegrationConfig* config) {
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) return Corrupt(field.json_name);
  absl::StatusOr<std::string> sealed = Base64Decode(text);
  if (!sealed.ok()) return Corrupt(field.json_name);
  absl::StatusOr<std::string> plain =
      box.Open(*sealed, SecretAssociatedData(field.name, config->id));
  if (!plain.ok()) {
    return absl::DataLossError(absl::StrCat("integration ", config->id, " ",
                                            ToAbsl(field.name), ": ",
                                            plain.status().message()));
  }
  config->*field.member = *std::move(plain);
  return absl::OkStatus();
}

// Everything but the secrets and the events.
absl::Status ReadScalars(dom::object object, IntegrationConfig* c) {
  uint64_t version = 0;
  if (object["v"].get_uint64().get(version) != simdjson::SUCCESS ||
      version != kRecordVersion) {
    return Corrupt("unsupported version");
  }
  std::string_view kind, state;
  if (object["id"].get_uint64().get(c->id) != simdjson::SUCCESS ||
      object["company_id"].get_uint64().get(c->company_id) != simdjson::SUCCESS ||
      object["kind"].get_string().get(kind) != simdjson::SUCCESS ||
      object["state"].get_string().get(state) != simdjson::SUCCESS ||
      object["created_ms"].get_int64().get(c->created_ms) != simdjson::SUCCESS ||
      object["updated_ms"].get_int64().get(c->updated_ms) != simdjson::SUCCESS ||
      object["version"].get_uint64().get(c->version) != simdjson::SUCCESS) {
    return Corrupt("missing or mistyped field");
  }
  const std::optional<IntegrationKind> k = ParseKindName(kind);
  const std::optional<IntegrationState> s = ParseStateName(state);
  if (!k.has_value() || !s.has_value()) return Corrupt("unknown kind or state");
  c->kind = *k;
  c->state = *s;
  for (const TextField& field : kTextFields) {
    std::string_view text;
    const auto err = object[field.name].get_string().get(text);
    if (err == simdjson::NO_SUCH_FIELD) continue;
    if (err != simdjson::SUCCESS) return Corrupt(field.name);
    c->*field.member = std::string(text);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> EncodeIntegrationRecord(const IntegrationConfig& c,
                                                    const SecretBox& box) {
  JsonWriter w;
  w.BeginObject().Key("v").Uint(kRecordVersion);
  w.Key("id").Uint(c.id).Key("company_id").Uint(c.company_id);
  w.Key("kind").String(KindName(c.kind)).Key("state").String(StateName(c.state));
  for (const TextField& field : kTextFields) w.Key(field.name).String(c.*field.member);
  w.Key("events").BeginObject();
  for (const SelectionBit& bit : kSelectionBits)
    w.Key(bit.name).Bool(c.events.*bit.member);
  w.EndObject();
  for (const SecretField& field : kSecretFields) {
    const std::string& secret = c.*field.member;
    if (secret.empty()) continue;
    absl::StatusOr<std::string> sealed =
        box.Seal(secret, SecretAssociatedData(field.name, c.id));
    if (!sealed.ok()) return sealed.status();
    w.Key(field.json_name).String(Base64Encode(*sealed));
  }
  w.Key("created_ms").Int(c.created_ms).Key("updated_ms").Int(c.updated_ms);
  w.Key("version").Uint(c.version);
  w.EndObject();
  return std::move(w).Take();
}

absl::StatusOr<IntegrationConfig> DecodeIntegrationRecord(std::string_view record,
                                                          const SecretBox& box) {
  dom::parser parser;
  dom::element root;
  const simdjson::padded_string padded(record);
  dom::object object;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS ||
      root.get_object().get(object) != simdjson::SUCCESS) {
    return Corrupt("not a JSON object");
  }
  IntegrationConfig config;
  if (absl::Status s = ReadScalars(object, &config); !s.ok()) return s;
  dom::element events;
  if (object["events"].get(events) == simdjson::SUCCESS) {
    if (absl::Status s = ReadSelection(events, &config.events); !s.ok()) return s;
  }
  for (const SecretField& field : kSecretFields) {
    dom::element value;
    if (object[field.json_name].get(value) != simdjson::SUCCESS) continue;
    if (absl::Status s = ReadSecret(field, value, box, &config); !s.ok()) return s;
  }
  return config;
}

}  // namespace outboxd
