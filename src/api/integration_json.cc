#include "api/integration_json.h"

#include <algorithm>
#include <initializer_list>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/absl_compat.h"
#include "outboxd/rfc3339.h"
#include "outboxd/event.h"
#include "outboxd/signer.h"
#include "simdjson.h"

namespace outboxd {
namespace {

namespace dom = simdjson::dom;

constexpr size_t kMaxNameBytes = 200;
constexpr size_t kMaxSecretBytes = 1024;
constexpr size_t kMinPrimaryKeyBytes = 16;

struct CloudInfo {
  std::string_view name;
  std::string_view authority;
  std::string_view ingest_host_suffix;  // Azure Monitor Logs Ingestion hosts
};
constexpr CloudInfo kClouds[] = {
    {"public", "https://login.microsoftonline.com", ".ingest.monitor.azure.com"},
    {"usgov", "https://login.microsoftonline.us", ".ingest.monitor.azure.us"},
    {"china", "https://login.chinacloudapi.cn", ".ingest.monitor.azure.cn"},
};

const CloudInfo* FindCloud(std::string_view name) {
  for (const CloudInfo& cloud : kClouds) {
    if (cloud.name == name) return &cloud;
  }
  return nullptr;
}

bool HasControlChars(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

bool IsMask(std::string_view s) {
  return !s.empty() && s.find_first_not_of('*') == std::string_view::npos;
}

struct HttpUrl {
  bool https = false;
  std::string host;  // lower case
  std::string port;  // digits or empty
};

bool IsHostChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
}

// Accepts http(s)://host[:port][/path] with a DNS name, IPv4 or [IPv6] host;
// no user info, query or fragment (the destination appends its own path).
std::optional<HttpUrl> ParseHttpUrl(std::string_view url) {
  HttpUrl out;
  if (absl::StartsWithIgnoreCase(ToAbsl(url), "https://")) {
    out.https = true;
    url.remove_prefix(8);
  } else if (absl::StartsWithIgnoreCase(ToAbsl(url), "http://")) {
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f ||
        std::string_view("?#@\\\"<>{}|^`").find(c) != std::string_view::npos) {
      return std::nullopt;
    }
  }
  std::string_view authority = url.substr(0, url.find('/'));
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(0, close + 1);
    port = authority.substr(close + 1);
    if (!port.empty() && port.front() != ':') return std::nullopt;
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon);
    for (char c : host) {
      if (!IsHostChar(c)) return std::nullopt;
    }
  }
  if (!port.empty()) {
    port.remove_prefix(1);  // ':'
    uint32_t n = 0;
    if (port.empty() || !absl::SimpleAtoi(ToAbsl(port), &n) || n == 0 || n > 65535)
      return std::nullopt;
  }
  if (host.empty() || host == "[]") return std::nullopt;
  out.host = absl::AsciiStrToLower(ToAbsl(host));
  out.port = std::string(port);
  return out;
}

// A field check: nullopt when `in` is valid, with *out the value to store;
// the reason otherwise. Called for non-empty values only.
using Check = std::optional<std::string> (*)(std::string_view in, std::string* out);

std::optional<std::string> CheckName(std::string_view in, std::string* out) {
  if (in.size() > kMaxNameBytes || HasControlChars(in)) {
    return absl::StrCat("must be at most ", kMaxNameBytes,
                        " bytes without control characters");
  }
  *out = std::string(in);
  return std::nullopt;
}

std::optional<std::string> CheckGuid(std::string_view in, std::string* out) {
  if (!IsGuid(in)) return "must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)";
  *out = std::string(in);
  return std::nullopt;
}

std::optional<std::string> CheckPrimaryKey(std::string_view in, std::string* out) {
  absl::StatusOr<std::string> key = Base64Decode(in);
  if (!key.ok()) return "must be the workspace key in base64";
  if (key->size() < kMinPrimaryKeyBytes) {
    return absl::StrCat("decodes to ", key->size(),
                        " bytes; a workspace key has at least ", kMinPrimaryKeyBytes);
  }
  *out = std::string(in);
  return std::nullopt;
}

std::optional<std::string> CheckTable(std::string_view in, std::string* out) {
  const std::string_view table = StripCustomLogSuffix(in);
  if (absl::Status s = ValidateLogType(table); !s.ok()) return std::string(s.message());
  *out = std::string(table);
  return std::nullopt;
}

std::optional<std::string> CheckTimeField(std::string_view in, std::string* out) {
  if (!ValidateLogType(in).ok()) {
    return "must be a field name: letters, digits and '_', at most 100 characters";
  }
  *out = std::string(in);
  return std::nullopt;
}

std::optional<std::string> CheckCloud(std::string_view in, std::string* out) {
  if (FindCloud(in) == nullptr) return "must be \"public\", \"usgov\" or \"china\"";
  *out = std::string(in);
  return std::nullopt;
}

std::optional<std::string> CheckUrl(std::string_view in, std::string* out) {
  if (!ParseHttpUrl(in).has_value()) {
    return "must be an http(s) URL (scheme://host[:port][/path], no query)";
  }
  std::string_view url = in;
  while (url.back() == '/') url.remove_suffix(1);
  *out = std::string(url);
  return std::nullopt;
}

std::optional<std::string> CheckTenant(std::string_view in, std::string* out) {
  const bool dns_name = in.size() <= 253 && in.find('.') != std::string_view::npos &&
                        std::all_of(in.begin(), in.end(), IsHostChar);
  if (!IsGuid(in) && !dns_name) return "must be a GUID or a domain name";
  *out = std::string(in);
  return std::nullopt;
}

std::optional<std::string> CheckSecret(std::string_view in, std::string* out) {
  if (in.size() > kMaxSecretBytes || HasControlChars(in)) {
    return absl::StrCat("must be at most ", kMaxSecretBytes,
                        " bytes without control characters");
  }
  *out = std::string(in);
  return std::nullopt;
}

// Goes into a URL path: keep it to unreserved characters.
std::optional<std::string> CheckPathToken(std::string_view in, std::string* out) {
  const bool ok = in.size() <= 256 && std::all_of(in.begin(), in.end(), [](char c) {
                    return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                           c == '-' || c == '_' || c == '.';
                  });
  if (!ok) return "must be at most 256 letters, digits, '-', '_' or '.'";
  *out = std::string(in);
  return std::nullopt;
}

enum class Only { kAnyKind, kSentinel, kDcr };

struct StringField {
  std::string_view name;
  std::string IntegrationConfig::*member;
  Check check;
  Only only;      // the kind that takes the field
  bool required;  // for that kind (or always, with kAnyKind)
  bool optional;  // "" resets it
  bool secret;
};

constexpr StringField kStringFields[] = {
    {"name", &IntegrationConfig::name, CheckName, Only::kAnyKind, true, false, false},
    {"table", &IntegrationConfig::table, CheckTable, Only::kAnyKind, false, true, false},
    {"time_field", &IntegrationConfig::time_field, CheckTimeField, Only::kAnyKind, false,
     true, false},
    {"cloud", &IntegrationConfig::cloud, CheckCloud, Only::kAnyKind, false, false, false},
    {"endpoint", &IntegrationConfig::endpoint, CheckUrl, Only::kSentinel, false, true,
     false},
    {"workspace_id", &IntegrationConfig::workspace_id, CheckGuid, Only::kSentinel, true,
     false, false},
    {"primary_key", &IntegrationConfig::primary_key, CheckPrimaryKey, Only::kSentinel,
     true, false, true},
    {"tenant_id", &IntegrationConfig::tenant_id, CheckTenant, Only::kDcr, true, false,
     false},
    {"client_id", &IntegrationConfig::client_id, CheckGuid, Only::kDcr, true, false,
     false},
    {"client_secret", &IntegrationConfig::client_secret, CheckSecret, Only::kDcr, true,
     false, true},
    {"dce_endpoint", &IntegrationConfig::dce_endpoint, CheckUrl, Only::kDcr, true, false,
     false},
    {"dcr_immutable_id", &IntegrationConfig::dcr_immutable_id, CheckPathToken, Only::kDcr,
     true, false, false},
    {"stream", &IntegrationConfig::stream, CheckPathToken, Only::kDcr, true, false,
     false},
    {"authority", &IntegrationConfig::authority, CheckUrl, Only::kDcr, false, true,
     false},
};

constexpr std::string_view kReadOnlyFields[] = {"id", "state", "created_at", "updated_at",
                                                "version"};

struct SelectionFlag {
  std::string_view name;
  bool Selection::*member;
};
constexpr SelectionFlag kSelectionFlags[] = {
    {"hits", &Selection::hits},
    {"system", &Selection::system},
    {"rules_and_triggers", &Selection::rules_and_triggers},
    {"scope", &Selection::scope},
    {"triggered", &Selection::triggered},
    {"hourly_report", &Selection::hourly_report},
};

Only OnlyFor(IntegrationKind kind) {
  return kind == IntegrationKind::kSentinel ? Only::kSentinel : Only::kDcr;
}

FieldError Error(std::string_view field, std::string message) {
  return FieldError{std::string(field), std::move(message)};
}

class IntegrationParser {
 public:
  IntegrationParser(const IntegrationConfig* base, const ParseIntegrationOptions& options)
      : base_(base), options_(options) {
    if (base != nullptr) config_ = *base;
  }

  std::optional<FieldError> Run(std::string_view json);
  IntegrationConfig& config() { return config_; }

 private:
  std::optional<FieldError> Apply(std::string_view key, dom::element value);
  std::optional<FieldError> ApplyString(const StringField& spec, dom::element value);
  std::optional<FieldError> ApplyCompanyId(dom::element value);
  std::optional<FieldError> ApplyKind(dom::element value);
  std::optional<FieldError> ApplyEvents(dom::element value);
  std::optional<FieldError> ApplyReadOnly(std::string_view key, dom::element value) const;
  std::optional<FieldError> ApplyVulnerabilities(dom::element value);
  std::optional<FieldError> CheckKindFields() const;
  std::optional<FieldError> CheckOverrides();
  bool Given(std::string_view name) const { return given_.contains(ToAbsl(name)); }
  // Whether the value differs from the stored one (always, on create).
  bool Changed(std::string IntegrationConfig::*member) const {
    return base_ == nullptr || base_->*member != config_.*member;
  }

  const IntegrationConfig* base_;
  ParseIntegrationOptions options_;
  IntegrationConfig config_;
  absl::flat_hash_set<std::string> given_;
};

std::optional<FieldError> IntegrationParser::Run(std::string_view json) {
  dom::parser parser;
  dom::element root;
  const simdjson::padded_string padded(json);
  if (const auto err = parser.parse(padded).get(root); err != simdjson::SUCCESS) {
    return Error("", absl::StrCat("invalid JSON: ", simdjson::error_message(err)));
  }
  dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return Error("", "body must be a JSON object");
  }
  for (dom::key_value_pair field : object) {
    if (!given_.insert(std::string(field.key)).second)
      return Error(field.key, "duplicate key");
    if (auto err = Apply(field.key, field.value)) return err;
  }
  if (base_ == nullptr) {
    for (std::string_view name : {"company_id", "name", "kind"}) {
      if (!Given(name)) return Error(name, "is required");
    }
  }
  if (auto err = CheckKindFields()) return err;
  return CheckOverrides();
}

std::optional<FieldError> IntegrationParser::Apply(std::string_view key,
                                                   dom::element value) {
  if (key == "company_id") return ApplyCompanyId(value);
  if (key == "kind") return ApplyKind(value);
  if (key == "events") return ApplyEvents(value);
  for (const StringField& spec : kStringFields) {
    if (spec.name == key) return ApplyString(spec, value);
  }
  for (std::string_view name : kReadOnlyFields) {
    if (name == key) return ApplyReadOnly(key, value);
  }
  return Error(key, "unknown field");
}

// A GET's output sent back whole: read-only fields pass when unchanged.
std::optional<FieldError> IntegrationParser::ApplyReadOnly(std::string_view key,
                                                           dom::element value) const {
  bool same = false;
  if (base_ != nullptr) {
    uint64_t number = 0;
    std::string_view text;
    if (key == "id" || key == "version") {
      same = value.get_uint64().get(number) == simdjson::SUCCESS &&
             number == (key == "id" ? base_->id : base_->version);
    } else if (value.get_string().get(text) == simdjson::SUCCESS) {
      same = key == "state"        ? text == StateName(base_->state)
             : key == "created_at" ? text == FormatRfc3339(base_->created_ms)
                                   : text == FormatRfc3339(base_->updated_ms);
    }
  }
  if (same) return std::nullopt;
  if (key == "state") {
    return Error(key, "is read-only; use POST /v1/integrations/{id}/enable or /disable");
  }
  return Error(key, "is read-only");
}

std::optional<FieldError> IntegrationParser::ApplyString(const StringField& spec,
                                                         dom::element value) {
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    return Error(spec.name, "must be a string");
  }
  std::string& slot = config_.*spec.member;
  if (spec.secret && IsMask(text)) {
    // The masked value a GET returned, sent back: keep the stored secret.
    if (base_ != nullptr && !(base_->*spec.member).empty()) return std::nullopt;
    return Error(spec.name, "must be the secret itself, not its mask");
  }
  if (text.empty()) {
    if (!spec.optional) return Error(spec.name, "must not be empty");
    slot.clear();
    return std::nullopt;
  }
  if (auto message = spec.check(text, &slot))
    return Error(spec.name, std::move(*message));
  return std::nullopt;
}

std::optional<FieldError> IntegrationParser::ApplyCompanyId(dom::element value) {
  uint64_t id = 0;
  if (value.get_uint64().get(id) != simdjson::SUCCESS || id == 0) {
    return Error("company_id", "must be a positive integer");
  }
  if (base_ != nullptr && base_->company_id != id) {
    return Error("company_id", "cannot be changed");
  }
  config_.company_id = id;
  return std::nullopt;
}

std::optional<FieldError> IntegrationParser::ApplyKind(dom::element value) {
  std::string_view text;
  std::optional<IntegrationKind> kind;
  if (value.get_string().get(text) == simdjson::SUCCESS) kind = ParseKindName(text);
  if (!kind.has_value()) return Error("kind", "must be \"sentinel\" or \"sentinel_dcr\"");
  if (base_ != nullptr && base_->kind != *kind) return Error("kind", "cannot be changed");
  config_.kind = *kind;
  return std::nullopt;
}

std::optional<FieldError> IntegrationParser::ApplyEvents(dom::element value) {
  dom::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) {
    return Error("events", "must be an object");
  }
  absl::flat_hash_set<std::string_view> seen;
  for (dom::key_value_pair field : object) {
    const std::string name = absl::StrCat("events.", ToAbsl(field.key));
    if (!seen.insert(field.key).second) return Error(name, "duplicate key");
    if (field.key == "vulnerabilities") {
      if (auto err = ApplyVulnerabilities(field.value)) return err;
      continue;
    }
    const SelectionFlag* flag = nullptr;
    for (const SelectionFlag& f : kSelectionFlags) {
      if (f.name == field.key) flag = &f;
    }
    if (flag == nullptr) return Error(name, "unknown event group");
    if (field.value.get_bool().get(config_.events.*flag->member) != simdjson::SUCCESS) {
      return Error(name, "must be a boolean");
    }
  }
  return std::nullopt;
}

std::optional<FieldError> IntegrationParser::ApplyVulnerabilities(dom::element value) {
  constexpr std::string_view kField = "events.vulnerabilities";
  Selection& s = config_.events;
  bool all = false;
  if (value.get_bool().get(all) == simdjson::SUCCESS) {
    s.vuln_high = s.vuln_medium = s.vuln_low = all;
    return std::nullopt;
  }
  dom::array risks;
  if (value.get_array().get(risks) != simdjson::SUCCESS) {
    return Error(kField,
                 "must be a list of risks (\"high\", \"medium\", \"low\") or a boolean");
  }
  s.vuln_high = s.vuln_medium = s.vuln_low = false;
  for (dom::element item : risks) {
    std::string_view text;
    std::optional<Risk> risk;
    if (item.get_string().get(text) == simdjson::SUCCESS) risk = ParseRisk(text);
    if (!risk.has_value())
      return Error(kField, "risks are \"high\", \"medium\" or \"low\"");
    if (*risk == Risk::kHigh) s.vuln_high = true;
    if (*risk == Risk::kMedium) s.vuln_medium = true;
    if (*risk == Risk::kLow) s.vuln_low = true;
  }
  return std::nullopt;
}

std::optional<FieldError> IntegrationParser::CheckKindFields() const {
  const Only kind = OnlyFor(config_.kind);
  const std::string_view kind_name = KindName(config_.kind);
  for (const StringField& spec : kStringFields) {
    const bool filled = !(config_.*spec.member).empty();
    if (spec.only != Only::kAnyKind && spec.only != kind && Given(spec.name) && filled) {
      return Error(spec.name, absl::StrCat("is not used by kind ", ToAbsl(kind_name)));
    }
    if (spec.required && (spec.only == Only::kAnyKind || spec.only == kind) && !filled) {
      return Error(spec.name, absl::StrCat("is required for kind ", ToAbsl(kind_name)));
    }
  }
  return std::nullopt;
}

std::optional<FieldError> IntegrationParser::CheckOverrides() {
  const bool allowed = options_.allow_endpoint_override;
  const CloudInfo* cloud = FindCloud(config_.cloud);
  if (cloud == nullptr)
    return Error("cloud", "must be \"public\", \"usgov\" or \"china\"");
  // Only a new or changed value needs the flag: a config saved while it was
  // on stays editable without it.
  const bool cloud_changed = Changed(&IntegrationConfig::cloud);
  if (!allowed && Changed(&IntegrationConfig::endpoint) && !config_.endpoint.empty()) {
    return Error("endpoint", "needs the --allow-endpoint-override flag");
  }
  if (config_.kind != IntegrationKind::kSentinelDcr) return std::nullopt;
  if (config_.authority == cloud->authority) config_.authority.clear();
  if (!allowed && (Changed(&IntegrationConfig::authority) || cloud_changed) &&
      !config_.authority.empty()) {
    return Error("authority",
                 absl::StrCat("must be ", ToAbsl(cloud->authority), " for cloud ",
                              ToAbsl(cloud->name),
                              " (another value needs --allow-endpoint-override)"));
  }
  if (!allowed && (Changed(&IntegrationConfig::dce_endpoint) || cloud_changed)) {
    const std::optional<HttpUrl> url = ParseHttpUrl(config_.dce_endpoint);
    const bool azure = url.has_value() && url->https &&
                       (url->port.empty() || url->port == "443") &&
                       absl::EndsWith(url->host, ToAbsl(cloud->ingest_host_suffix));
    if (!azure) {
      return Error(
          "dce_endpoint",
          absl::StrCat("must be an https URL on *", ToAbsl(cloud->ingest_host_suffix),
                       " for cloud ", ToAbsl(cloud->name),
                       " (another host needs --allow-endpoint-override)"));
    }
  }
  return std::nullopt;
}

std::string_view Mask(const std::string& secret) {
  return secret.empty() ? std::string_view() : kMaskedSecret;
}

void WriteSelection(const Selection& s, JsonWriter* w) {
  w->BeginObject();
  w->Key("hits").Bool(s.hits).Key("system").Bool(s.system);
  w->Key("vulnerabilities").BeginArray();
  if (s.vuln_high) w->String("high");
  if (s.vuln_medium) w->String("medium");
  if (s.vuln_low) w->String("low");
  w->EndArray();
  w->Key("rules_and_triggers").Bool(s.rules_and_triggers).Key("scope").Bool(s.scope);
  w->Key("triggered").Bool(s.triggered).Key("hourly_report").Bool(s.hourly_report);
  w->EndObject();
}

}  // namespace

IntegrationParseResult ParseIntegration(std::string_view json,
                                        const IntegrationConfig* base,
                                        const ParseIntegrationOptions& options) {
  IntegrationParser parser(base, options);
  IntegrationParseResult result;
  result.error = parser.Run(json);
  if (!result.error.has_value()) result.config = std::move(parser.config());
  return result;
}

void WriteIntegrationJson(const IntegrationConfig& c, JsonWriter* w) {
  w->BeginObject();
  w->Key("id").Uint(c.id).Key("company_id").Uint(c.company_id).Key("name").String(c.name);
  w->Key("kind").String(KindName(c.kind)).Key("state").String(StateName(c.state));
  w->Key("events");
  WriteSelection(c.events, w);
  w->Key("table").String(c.table).Key("time_field").String(c.time_field);
  w->Key("cloud").String(c.cloud);
  if (c.kind == IntegrationKind::kSentinel) {
    w->Key("endpoint").String(c.endpoint).Key("workspace_id").String(c.workspace_id);
    w->Key("primary_key").String(Mask(c.primary_key));
  } else {
    w->Key("tenant_id").String(c.tenant_id).Key("client_id").String(c.client_id);
    w->Key("client_secret").String(Mask(c.client_secret));
    w->Key("dce_endpoint").String(c.dce_endpoint);
    w->Key("dcr_immutable_id").String(c.dcr_immutable_id).Key("stream").String(c.stream);
    w->Key("authority")
        .String(c.authority.empty() ? DefaultAuthority(c.cloud) : c.authority);
  }
  w->Key("created_at").String(FormatRfc3339(c.created_ms));
  w->Key("updated_at").String(FormatRfc3339(c.updated_ms));
  w->Key("version").Uint(c.version);
  w->EndObject();
}

std::string IntegrationToJson(const IntegrationConfig& config) {
  JsonWriter w;
  WriteIntegrationJson(config, &w);
  return std::move(w).Take();
}

std::string_view DefaultAuthority(std::string_view cloud) {
  const CloudInfo* info = FindCloud(cloud);
  return info == nullptr ? std::string_view() : info->authority;
}

std::optional<IntegrationKind> ParseKindName(std::string_view name) {
  for (IntegrationKind kind :
       {IntegrationKind::kSentinel, IntegrationKind::kSentinelDcr}) {
    if (KindName(kind) == name) return kind;
  }
  return std::nullopt;
}

std::optional<IntegrationState> ParseStateName(std::string_view name) {
  for (IntegrationState state :
       {IntegrationState::kEnabled, IntegrationState::kDisabled,
        IntegrationState::kBroken, IntegrationState::kDeleting}) {
    if (StateName(state) == name) return state;
  }
  return std::nullopt;
}

}  // namespace outboxd
