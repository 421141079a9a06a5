// Secrets at rest: AES-256-GCM under one key kept in a file of its own.
//
// Each Seal uses a fresh random 96-bit nonce and binds the ciphertext to
// `associated_data` (SecretAssociatedData: field name + integration id), so
// a ciphertext copied to another field or integration fails to open.
// Sealed form: nonce(12) | ciphertext | tag(16), raw bytes (callers base64 it).
//
// Thread safety: immutable after creation; Seal/Open are thread-safe.
//
// Example:
//   absl::StatusOr<SecretBox> box = SecretBox::LoadOrCreate(data_dir + "/secret.key");
//   std::string ad = SecretAssociatedData("primary_key", 7);
//   absl::StatusOr<std::string> sealed = box->Seal(key, ad);
//   absl::StatusOr<std::string> plain = box->Open(*sealed, ad);
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace outboxd {

class SecretBox {
 public:
  static constexpr size_t kKeyBytes = 32;
  static constexpr size_t kNonceBytes = 12;
  static constexpr size_t kTagBytes = 16;

  // Loads the key from `path`: the base64 text of 32 random bytes (44
  // characters, optional trailing newline). When the file does not exist it
  // is created with mode 0600, written and fsynced under a temporary name,
  // then linked into place (never replacing a file another process created
  // meanwhile) and the directory is fsynced. FailedPrecondition when the
  // file is accessible by group or others, or is not a regular file;
  // DataLoss when its content is not a 32-byte base64 key.
  static absl::StatusOr<SecretBox> LoadOrCreate(const std::string& path);

  // A box over raw key bytes (tests, tools). InvalidArgument unless 32 bytes.
  static absl::StatusOr<SecretBox> FromKey(std::string_view key);

  SecretBox(SecretBox&& other) noexcept;
  SecretBox& operator=(SecretBox&& other) noexcept;
  SecretBox(const SecretBox&) = delete;
  SecretBox& operator=(const SecretBox&) = delete;
  ~SecretBox();  // wipes the key

  // Internal on an OpenSSL failure (not expected).
  absl::StatusOr<std::string> Seal(std::string_view plaintext,
                                   std::string_view associated_data) const;
  // DataLoss when `sealed` is truncated, was tampered with, was sealed with
  // another key or other associated data.
  absl::StatusOr<std::string> Open(std::string_view sealed,
                                   std::string_view associated_data) const;

 private:
  explicit SecretBox(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

// "<field>/<integration id>", e.g. "primary_key/7".
std::string SecretAssociatedData(std::string_view field, uint64_t integration_id);

}  // namespace outboxd
