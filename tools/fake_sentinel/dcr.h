// fake_sentinel's Logs Ingestion API half (the sentinel_dcr destination): an
// Entra ID token endpoint and the ingestion endpoint, answering the way
// Azure does. Pure: request in, answer out, "now" passed in. Independent of
// outboxd's own code (its own form parser, zlib inflate and RFC 3339 reader)
// so the fake checks the destination instead of agreeing with it.
//
//   POST /<tenant>/oauth2/v2.0/token            client credentials -> token
//   POST /dataCollectionRules/<id>/streams/<stream>?api-version=2023-01-01
//        Authorization: Bearer <token>, gzip or plain JSON array -> 204
//
// Example:
//   DcrConfig config;
//   AddDcrClient("11111111-2222-3333-4444-555555555555=secret", &config);
//   DcrService dcr(config, /*seed=*/1);
//   DcrAnswer token = dcr.Token(path, content_type, form_body, now);
//   DcrAnswer answer = dcr.Ingest(request, now);  // 204, or Azure's error
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "checks.h"
#include "outboxd/clock.h"
#include "outboxd/mutex.h"

namespace outboxd::fake_sentinel {

inline constexpr std::string_view kDcrApiVersion = "2023-01-01";
// "1 MB", compressed and uncompressed (the smaller, decimal reading).
inline constexpr size_t kDcrMaxCallBytes = 1'000'000;
inline constexpr TimeMs kDcrMaxSpanMs = 30 * kMinuteMs;

struct DcrConfig {
  absl::flat_hash_map<std::string, std::string> clients;  // client_id -> secret
  TimeMs token_ttl_ms = kHourMs;
  double token_fail_rate = 0;  // token requests answered 503
  std::string time_field = "occurred_at";
};

// "ID=SECRET" (--dcr-client). InvalidArgument when either part is empty.
absl::Status AddDcrClient(std::string_view text, DcrConfig* config);

// The ingestion request's parts the checks look at.
struct DcrRequest {
  std::string_view method;
  std::string_view target;  // path and query
  std::string_view authorization;
  std::string_view content_type;
  std::string_view content_encoding;
  std::string_view body;
};

struct DcrAnswer {
  int status = 204;
  std::string code;     // Azure's error code (also sent as x-ms-error-code)
  std::string message;  // empty when accepted
  std::string body;     // the answer body ("" for 204)
  std::string rule;     // the DCR immutable ID
  std::string stream;
  std::vector<std::string> records;  // per accepted record, RecordsToKeep

  bool ok() const { return status >= 200 && status < 300; }
};

// {"error":{"code":"<code>","message":"<message>"}}
std::string DcrErrorBody(std::string_view code, std::string_view message);
DcrAnswer DcrError(int status, std::string_view code, std::string_view message);

// The tenant of "/<tenant>/oauth2/v2.0/token", or nullopt.
std::optional<std::string_view> DcrTokenTenant(std::string_view path);
// Whether `path` is "/dataCollectionRules/<id>/streams/<stream>".
bool IsDcrIngestPath(std::string_view path);

// application/x-www-form-urlencoded: '+' is a space, %XX a byte. nullopt
// for a bad escape.
std::optional<std::string> FormDecode(std::string_view text);
// The decompressed gzip member; nullopt when not gzip, corrupt, or longer
// than `max_output` (then *too_large is set).
std::optional<std::string> Gunzip(std::string_view data, size_t max_output, bool* too_large);

// Issues tokens and checks them. Thread-safe.
class DcrService {
 public:
  DcrService(DcrConfig config, uint64_t seed);

  // POST /<tenant>/oauth2/v2.0/token. 200 with {"token_type":"Bearer",
  // "expires_in","ext_expires_in","access_token"}; 400 invalid_request /
  // unsupported_grant_type / invalid_scope, 401 invalid_client (unknown
  // client or wrong secret), 503 temporarily_unavailable (token_fail_rate),
  // each as {"error","error_description","error_codes"}.
  DcrAnswer Token(std::string_view method, std::string_view path,
                  std::string_view content_type, std::string_view body, TimeMs now);

  // The ingestion endpoint, checks in Azure's order: method, api-version,
  // bearer token (issued here, unexpired), Content-Encoding (gzip or none),
  // size (<= 1 MB as sent and decompressed), Content-Type, a JSON array of
  // objects, time range of the records' time field (<= 30 minutes). The
  // answer's records are what `keep` asks for.
  DcrAnswer Ingest(const DcrRequest& request, TimeMs now,
                   OutFormat keep = OutFormat::kRecords) const;

  uint64_t tokens_issued() const;

 private:
  DcrAnswer CheckToken(std::string_view authorization, TimeMs now) const;

  const DcrConfig config_;
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, TimeMs> tokens_ ABSL_GUARDED_BY(mu_);  // -> expiry
  std::mt19937_64 random_ ABSL_GUARDED_BY(mu_);
  uint64_t issued_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace outboxd::fake_sentinel
