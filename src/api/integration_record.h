// The `integrations` column family record: an integration's config, state,
// version and times as JSON, with each secret replaced by
// "<field>_enc": base64(SecretBox::Seal(secret, SecretAssociatedData(field, id))).
// The record never holds a secret in clear. Unknown keys are ignored when
// decoding, so a newer writer's additions do not break an older reader.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "api/secret_box.h"
#include "outboxd/integration.h"

namespace outboxd {

// `config.id` must already be assigned: it is bound into the ciphertexts.
absl::StatusOr<std::string> EncodeIntegrationRecord(const IntegrationConfig& config,
                                                    const SecretBox& box);

// DataLoss when the record is not one (bad JSON, unknown version, kind or
// state) or a secret does not open under `box`.
absl::StatusOr<IntegrationConfig> DecodeIntegrationRecord(std::string_view record,
                                                          const SecretBox& box);

}  // namespace outboxd
