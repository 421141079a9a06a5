// HTTP Data Collector API signing (Azure "SharedKey"), with OpenSSL.
//
//   signature = base64(HMAC-SHA256(base64decode(primary_key),
//       "POST\n<content-length>\napplication/json\nx-ms-date:<date>\n/api/logs"))
//   Authorization: SharedKey <workspace-id>:<signature>
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "outboxd/clock.h"

namespace outboxd {

// Standard base64 (RFC 4648, with padding).
std::string Base64Encode(std::string_view bytes);
// Strict: rejects characters outside the alphabet, bad padding and lengths
// that are not a multiple of 4. InvalidArgument on error.
absl::StatusOr<std::string> Base64Decode(std::string_view text);

// Raw 32-byte HMAC-SHA256 of `message` under `key`.
std::string HmacSha256(std::string_view key, std::string_view message);

// RFC 1123 date in GMT, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string Rfc1123Date(TimeMs t);
// Parses an RFC 1123 (IMF-fixdate) date; InvalidArgument when it is not one.
absl::StatusOr<TimeMs> ParseRfc1123Date(std::string_view text);

// Log-Type header rule: letters, digits and '_' only, 1..100 characters.
// InvalidArgument with the reason otherwise.
absl::Status ValidateLogType(std::string_view log_type);

// The string the Data Collector API signs.
std::string SharedKeyStringToSign(uint64_t content_length, std::string_view date);

// Signs requests for one workspace. Immutable after construction; thread-safe.
//
// Example:
//   auto signer = SharedKeySigner::Create(workspace_id, primary_key_base64);
//   std::string auth = signer->Authorization(body.size(), Rfc1123Date(now));
class SharedKeySigner {
 public:
  // InvalidArgument when `primary_key_base64` is not valid base64.
  static absl::StatusOr<SharedKeySigner> Create(std::string workspace_id,
                                                std::string_view primary_key_base64);

  // base64(HMAC-SHA256(key, SharedKeyStringToSign(content_length, date))).
  std::string Signature(uint64_t content_length, std::string_view date) const;
  // "SharedKey <workspace-id>:<signature>".
  std::string Authorization(uint64_t content_length, std::string_view date) const;

  const std::string& workspace_id() const { return workspace_id_; }

 private:
  SharedKeySigner(std::string workspace_id, std::string key)
      : workspace_id_(std::move(workspace_id)), key_(std::move(key)) {}
  std::string workspace_id_;
  std::string key_;  // decoded primary key bytes
};

}  // namespace outboxd
