#include "dcr.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "checks.h"
#include "simdjson.h"

namespace outboxd::fake_sentinel {
namespace {

constexpr std::string_view kTokenSuffix = "/oauth2/v2.0/token";

// What Entra ID answers for a failed token request.
DcrAnswer TokenError(int status, std::string_view error, int aadsts,
                     std::string_view description) {
  DcrAnswer answer;
  answer.status = status;
  answer.code = std::string(error);
  answer.message = absl::StrCat("AADSTS", aadsts, ": ", ToAbsl(description));
  answer.body = absl::StrCat("{\"error\":", JsonQuote(error),
                             ",\"error_description\":", JsonQuote(answer.message),
                             ",\"error_codes\":[", aadsts, "]}");
  return answer;
}

std::string RandomToken(std::mt19937_64& random) {
  char buffer[2 * 16 + 1];
  std::snprintf(buffer, sizeof(buffer), "%016llx%016llx",
                static_cast<unsigned long long>(random()),
                static_cast<unsigned long long>(random()));
  return absl::StrCat("fake-", buffer);
}

std::optional<TimeMs> ParseTimeField(std::string_view text) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, ToAbsl(text), &t, &error)) return std::nullopt;
  return absl::ToUnixMillis(t);
}

// The records of a JSON array of objects (what `keep` asks for of each),
// and their time span.
DcrAnswer ReadRecords(std::string_view json, std::string_view time_field,
                      OutFormat keep) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::array array;
  if (parser.parse(json.data(), json.size(), true).get(doc) != simdjson::SUCCESS ||
      doc.get_array().get(array) != simdjson::SUCCESS) {
    return DcrError(400, "InvalidRequestBody", "the body is not a JSON array");
  }
  DcrAnswer answer;
  std::optional<TimeMs> earliest, latest;
  for (simdjson::dom::element record : array) {
    if (!record.is_object()) {
      return DcrError(400, "InvalidRequestBody", "every record must be a JSON object");
    }
    std::string_view text;
    if (record[time_field].get_string().get(text) == simdjson::SUCCESS) {
      if (std::optional<TimeMs> t = ParseTimeField(text)) {
        earliest = std::min(earliest.value_or(*t), *t);
        latest = std::max(latest.value_or(*t), *t);
      }
    }
  }
  if (earliest && *latest - *earliest > kDcrMaxSpanMs) {
    return DcrError(400, "RecordsTimeRangeIsMoreThan30Minutes",
                    "the records of one call must lie within 30 minutes");
  }
  answer.records = RecordsToKeep(json, array, keep);
  return answer;
}

}  // namespace

absl::Status AddDcrClient(std::string_view text, DcrConfig* config) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == text.size()) {
    return absl::InvalidArgumentError("--dcr-client wants CLIENT_ID=SECRET");
  }
  config->clients[std::string(text.substr(0, eq))] = std::string(text.substr(eq + 1));
  return absl::OkStatus();
}

std::string DcrErrorBody(std::string_view code, std::string_view message) {
  return absl::StrCat("{\"error\":{\"code\":", JsonQuote(code),
                      ",\"message\":", JsonQuote(message), "}}");
}

DcrAnswer DcrError(int status, std::string_view code, std::string_view message) {
  DcrAnswer answer;
  answer.status = status;
  answer.code = std::string(code);
  answer.message = std::string(message);
  answer.body = DcrErrorBody(code, message);
  return answer;
}

std::optional<std::string_view> DcrTokenTenant(std::string_view path) {
  if (!path.starts_with('/') || !path.ends_with(kTokenSuffix)) return std::nullopt;
  std::string_view tenant = path.substr(1, path.size() - 1 - kTokenSuffix.size());
  if (tenant.empty() || tenant.find('/') != std::string_view::npos) return std::nullopt;
  return tenant;
}

bool IsDcrIngestPath(std::string_view path) {
  std::vector<absl::string_view> parts = absl::StrSplit(ToAbsl(path), '/');
  return parts.size() == 5 && parts[0].empty() && parts[1] == "dataCollectionRules" &&
         !parts[2].empty() && parts[3] == "streams" && !parts[4].empty();
}

std::optional<std::string> FormDecode(std::string_view text) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] != '%') {
      out.push_back(text[i]);
    } else {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex(text[i + 1]);
      const int lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
  }
  return out;
}

std::optional<std::string> Gunzip(std::string_view data, size_t max_output, bool* too_large) {
  *too_large = false;
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return std::nullopt;  // gzip only
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buffer[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buffer);
    zs.avail_out = sizeof(buffer);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buffer, sizeof(buffer) - zs.avail_out);
    if (out.size() > max_output) {
      *too_large = true;
      rc = Z_DATA_ERROR;
    }
  }
  const bool complete = rc == Z_STREAM_END && zs.avail_in == 0;
  inflateEnd(&zs);
  if (!complete) return std::nullopt;
  return out;
}

DcrService::DcrService(DcrConfig config, uint64_t seed)
    : config_(std::move(config)), random_(seed) {}

uint64_t DcrService::tokens_issued() const {
  MutexLock lock(&mu_);
  return issued_;
}

DcrAnswer DcrService::Token(std::string_view method, std::string_view path,
                            std::string_view content_type, std::string_view body, TimeMs now) {
  if (method != "POST" || !DcrTokenTenant(path)) {
    return TokenError(400, "invalid_request", 900561, "The endpoint only accepts POST requests.");
  }
  if (!absl::StartsWithIgnoreCase(ToAbsl(content_type), "application/x-www-form-urlencoded")) {
    return TokenError(400, "invalid_request", 900144, "The request body must be a form.");
  }
  absl::flat_hash_map<std::string, std::string> form;
  for (absl::string_view pair : absl::StrSplit(ToAbsl(body), '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(pair, '=');
    std::optional<std::string> key = FormDecode(ToStd(kv.first));
    std::optional<std::string> value = FormDecode(ToStd(kv.second));
    if (!key || !value) return TokenError(400, "invalid_request", 900144, "Malformed form.");
    form[*key] = *value;
  }
  if (form["grant_type"] != "client_credentials") {
    return TokenError(400, "unsupported_grant_type", 70003,
                      "The app requested an unsupported grant type.");
  }
  const std::string& scope = form["scope"];
  if (!absl::StartsWith(scope, "https://monitor.azure.") || !absl::EndsWith(scope, "/.default")) {
    return TokenError(400, "invalid_scope", 70011, "The provided value for scope is not valid.");
  }
  auto client = config_.clients.find(form["client_id"]);
  if (client == config_.clients.end()) {
    return TokenError(401, "invalid_client", 700016,
                      "Application with the given identifier was not found in the directory.");
  }
  if (client->second != form["client_secret"]) {
    return TokenError(401, "invalid_client", 7000215, "Invalid client secret provided.");
  }
  MutexLock lock(&mu_);
  const double draw = std::uniform_real_distribution<double>(0, 1)(random_);
  if (draw < config_.token_fail_rate) {
    return TokenError(503, "temporarily_unavailable", 90033,
                      "A transient error has occurred. Please try again.");
  }
  for (auto it = tokens_.begin(); it != tokens_.end();) {
    if (it->second <= now) {
      tokens_.erase(it++);
    } else {
      ++it;
    }
  }
  std::string token = RandomToken(random_);
  tokens_[token] = now + config_.token_ttl_ms;
  ++issued_;
  const TimeMs ttl_s = config_.token_ttl_ms / kSecondMs;
  DcrAnswer answer;
  answer.status = 200;
  answer.body = absl::StrCat("{\"token_type\":\"Bearer\",\"expires_in\":", ttl_s,
                             ",\"ext_expires_in\":", ttl_s, ",\"access_token\":",
                             JsonQuote(token), "}");
  return answer;
}

DcrAnswer DcrService::CheckToken(std::string_view authorization, TimeMs now) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (!absl::StartsWithIgnoreCase(ToAbsl(authorization), ToAbsl(kBearer))) {
    return DcrError(401, "MissingAuthenticationToken", "a Bearer token is required");
  }
  const std::string token(authorization.substr(kBearer.size()));
  MutexLock lock(&mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end()) {
    return DcrError(401, "InvalidAuthenticationToken", "the token was not issued here");
  }
  if (it->second <= now) {
    return DcrError(401, "ExpiredAuthenticationToken", "the token has expired");
  }
  return DcrAnswer{};
}

DcrAnswer DcrService::Ingest(const DcrRequest& request, TimeMs now,
                             OutFormat keep) const {
  if (request.method != "POST") return DcrError(405, "MethodNotAllowed", "use POST");
  if (QueryParam(request.target, "api-version") != kDcrApiVersion) {
    return DcrError(400, "InvalidApiVersion", "api-version must be 2023-01-01");
  }
  if (DcrAnswer auth = CheckToken(request.authorization, now); !auth.ok()) return auth;
  if (request.body.size() > kDcrMaxCallBytes) {
    return DcrError(413, "ContentLengthLimitExceeded", "the body is over 1 MB");
  }
  std::string inflated;
  std::string_view json = request.body;
  if (absl::EqualsIgnoreCase(ToAbsl(request.content_encoding), "gzip")) {
    bool too_large = false;
    std::optional<std::string> data = Gunzip(request.body, kDcrMaxCallBytes, &too_large);
    if (too_large) {
      return DcrError(413, "ContentLengthLimitExceeded", "the decompressed body is over 1 MB");
    }
    if (!data) return DcrError(400, "InvalidContentEncoding", "the body is not valid gzip");
    inflated = *std::move(data);
    json = inflated;
  } else if (!request.content_encoding.empty()) {
    return DcrError(400, "UnsupportedContentEncoding", "send gzip or no Content-Encoding");
  }
  if (!absl::StartsWithIgnoreCase(ToAbsl(request.content_type), "application/json")) {
    return DcrError(415, "UnsupportedMediaType", "Content-Type must be application/json");
  }
  DcrAnswer answer = ReadRecords(json, config_.time_field, keep);
  if (!answer.ok()) return answer;
  const std::vector<absl::string_view> parts =
      absl::StrSplit(ToAbsl(TargetPath(request.target)), '/');
  answer.status = 204;
  answer.rule = std::string(parts[2]);
  answer.stream = std::string(parts[4]);
  return answer;
}

}  // namespace outboxd::fake_sentinel
