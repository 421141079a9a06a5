#include "destinations/factory.h"

#include "absl/status/status.h"
#include "destinations/sentinel.h"
#include "destinations/sentinel_dcr.h"

namespace outboxd {

absl::StatusOr<std::unique_ptr<Destination>> MakeDestination(
    const IntegrationConfig& config, const DestinationOptions& options) {
  switch (config.kind) {
    case IntegrationKind::kSentinel: {
      SentinelOptions sentinel;
      sentinel.max_body_bytes = options.max_body_bytes;  // 0 keeps the default
      sentinel.request_timeout_ms = options.request_timeout_ms;
      absl::StatusOr<std::unique_ptr<SentinelDestination>> dest =
          SentinelDestination::Create(config, sentinel);
      if (!dest.ok()) return dest.status();
      return std::unique_ptr<Destination>(*std::move(dest));
    }
    case IntegrationKind::kSentinelDcr: {
      SentinelDcrOptions dcr;
      dcr.max_body_bytes = options.max_body_bytes;  // 0 keeps the default
      dcr.request_timeout_ms = options.request_timeout_ms;
      dcr.transport = options.transport;
      dcr.clock = options.clock;
      dcr.tokens = options.tokens.get();
      dcr.pacers = options.pacers.get();
      absl::StatusOr<std::unique_ptr<SentinelDcrDestination>> dest =
          SentinelDcrDestination::Create(config, dcr);
      if (!dest.ok()) return dest.status();
      return std::unique_ptr<Destination>(*std::move(dest));
    }
  }
  return absl::InvalidArgumentError("unknown integration kind");
}

}  // namespace outboxd
