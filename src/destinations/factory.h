// Builds the Destination for an integration's kind. The dispatcher and the
// "test integration" path call this; neither knows the kinds' details.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "outboxd/destination.h"
#include "outboxd/integration.h"

namespace outboxd {

struct DestinationOptions {
  // Largest request body; 0 = the destination's default. Always clamped to
  // the destination's own hard limit.
  uint64_t max_body_bytes = 0;
  TimeMs request_timeout_ms = 30 * kSecondMs;
};

// InvalidArgument for a config the kind cannot use (bad workspace ID, key,
// cloud); Unimplemented for a kind this build does not deliver to.
absl::StatusOr<std::unique_ptr<Destination>> MakeDestination(
    const IntegrationConfig& config, const DestinationOptions& options);

}  // namespace outboxd
