// Builds the Destination for an integration's kind. The dispatcher and the
// "test integration" path call this; neither knows the kinds' details.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "outboxd/destination.h"
#include "outboxd/integration.h"
#include "outboxd/transport.h"

namespace outboxd {

class RatePacers;
class TokenProviders;

struct DestinationOptions {
  // Largest request body; 0 = the destination's default. Always clamped to
  // the destination's own hard limit.
  uint64_t max_body_bytes = 0;
  TimeMs request_timeout_ms = 30 * kSecondMs;
  // sentinel_dcr fetches its bearer tokens through this transport, on its
  // loop thread (so the destination must be built and used there). Without
  // one, MakeDestination fails for sentinel_dcr with FailedPrecondition.
  // sentinel ignores the three fields below.
  Transport* transport = nullptr;
  // The clock for token expiry and pacing; nullptr: RealClock().
  Clock* clock = nullptr;
  // Token providers shared per credential (destinations/token_provider.h),
  // used on the transport's loop thread; nullptr: one per destination.
  std::shared_ptr<TokenProviders> tokens;
  // sentinel_dcr's pacers shared per data collection rule
  // (destinations/sentinel_dcr.h), loop thread; nullptr: one per destination.
  std::shared_ptr<RatePacers> pacers;
};

// InvalidArgument for a config the kind cannot use (bad workspace ID, key,
// cloud, missing DCR fields); FailedPrecondition for sentinel_dcr without
// options.transport.
absl::StatusOr<std::unique_ptr<Destination>> MakeDestination(
    const IntegrationConfig& config, const DestinationOptions& options);

}  // namespace outboxd
