// fake_sentinel's pure half: request in, verdict out, the way Azure's HTTP
// Data Collector API answers. No I/O and no clock reads: "now" is passed in.
//
// Example:
//   WorkspaceKeys keys;
//   keys.Add(workspace_id, primary_key_base64);
//   Verdict v = CheckLogsRequest(request, keys, now_ms);
//   if (v.ok()) writer.Append(v.log_type, v.workspace, now_ms, v.records);
//   reply(v.status, v.Body());
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "outboxd/clock.h"

namespace simdjson::dom {
class array;
}  // namespace simdjson::dom

namespace outboxd::fake_sentinel {

// What the out file keeps of each accepted record (--out-format).
enum class OutFormat { kRecords, kIds };

inline constexpr std::string_view kLogsPath = "/api/logs";
inline constexpr std::string_view kApiVersion = "2016-04-01";
inline constexpr TimeMs kMaxClockSkewMs = 15 * kMinuteMs;
inline constexpr size_t kMaxBodyBytes = 30 * 1024 * 1024;
inline constexpr size_t kMaxLogTypeLength = 100;

// Debian's abseil is built with its own absl::string_view, distinct from
// std::string_view; these convert at the boundary.
inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view ToStd(absl::string_view s) { return {s.data(), s.size()}; }

// Crypto and format helpers, independent of outboxd's own signer (so the
// fake checks the real code instead of agreeing with itself).
std::string Base64Encode(std::string_view bytes);
// Strict RFC 4648 with padding; nullopt for anything else.
std::optional<std::string> Base64Decode(std::string_view text);
// base64(HMAC-SHA256(key, "POST\n<len>\napplication/json\nx-ms-date:<date>\n/api/logs")).
std::string SharedKeySignature(std::string_view key, uint64_t content_length,
                               std::string_view date);
// "Tue, 14 Nov 2023 22:13:20 GMT".
std::string FormatRfc1123(TimeMs t);
std::optional<TimeMs> ParseRfc1123(std::string_view text);
// 8-4-4-4-12 hexadecimal digits.
bool IsGuid(std::string_view text);
bool IsValidLogType(std::string_view log_type);
// `text` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view text);
// The elements of `array_text`, a JSON array, each as it was sent minus the
// whitespace between tokens (string contents are kept byte for byte). The
// text must already be valid JSON (a simdjson parse checked it); false when
// it is not an array. Cheaper than re-serializing a parsed DOM: one pass that
// copies runs between whitespace and jumps over strings with memchr.
bool SplitJsonArray(std::string_view array_text, std::vector<std::string>* elements);
// The elements of a JSON array simdjson parsed from `array_text`, minified:
// SplitJsonArray, or simdjson's minify of each element should the split
// disagree with the parse.
std::vector<std::string> MinifiedElements(std::string_view array_text,
                                          const simdjson::dom::array& array);
// Per element of `array` (simdjson's parse of `array_text`), what the out
// file keeps: with kRecords the element minified (MinifiedElements); with
// kIds the JSON of its top-level "id" member, or null. The ids are read from
// the parse, not the text: a string id comes back quoted by JsonQuote (its
// escapes canonical), and no record is split out or copied.
std::vector<std::string> RecordsToKeep(std::string_view array_text,
                                       const simdjson::dom::array& array, OutFormat keep);
// {"Error":"<code>","Message":"<message>"}
std::string ErrorBody(std::string_view code, std::string_view message);

// Known workspaces and their primary keys (decoded).
class WorkspaceKeys {
 public:
  // InvalidArgument when the key is not base64 or the id is empty.
  absl::Status Add(std::string_view workspace, std::string_view key_base64);
  // Accept any GUID workspace signed with this key.
  absl::Status SetAnyWorkspaceKey(std::string_view key_base64);
  // Lines "ID KEY"; blank lines and lines starting with '#' are skipped.
  absl::Status AddLines(std::string_view text);
  // The decoded key for `workspace`, or nullptr when it is unknown.
  const std::string* KeyFor(std::string_view workspace) const;

 private:
  absl::flat_hash_map<std::string, std::string> keys_;  // lower-case id -> key
  std::optional<std::string> any_key_;
};

// The headers and body the checks look at.
struct LogsRequest {
  std::string_view method;
  std::string_view target;  // path and query
  std::string_view host;
  std::string_view authorization;
  std::string_view date;  // x-ms-date
  std::string_view content_type;
  std::string_view log_type;
  std::string_view body;
};

struct Verdict {
  int status = 200;
  std::string error;  // Azure's error code; empty when accepted
  std::string message;
  std::string workspace;
  std::string log_type;
  // Per accepted record, what the out file keeps (RecordsToKeep).
  std::vector<std::string> records;

  bool ok() const { return status == 200; }
  // The answer body: empty on success, ErrorBody otherwise.
  std::string Body() const;
};

// Splits "/path?query" and returns the value of `name` in the query, if any.
std::optional<std::string_view> QueryParam(std::string_view target,
                                           std::string_view name);
std::string_view TargetPath(std::string_view target);

// Everything Azure checks, in order: method, api-version, Authorization and
// workspace, x-ms-date (present, RFC 1123, within 15 minutes of `now_ms`),
// signature, Content-Type, Log-Type, body size, JSON array of objects. A
// record with "reject": true fails the whole request (InvalidDataFormat).
// The verdict's records are what `keep` asks for.
Verdict CheckLogsRequest(const LogsRequest& request, const WorkspaceKeys& keys,
                         TimeMs now_ms, OutFormat keep = OutFormat::kRecords);

}  // namespace outboxd::fake_sentinel
