#include "destinations/factory.h"

#include "absl/status/status.h"
#include "destinations/sentinel.h"

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
    case IntegrationKind::kSentinelDcr:
      return absl::UnimplementedError(
          "sentinel_dcr (Logs Ingestion API) is not supported by this build");
  }
  return absl::InvalidArgumentError("unknown integration kind");
}

}  // namespace outboxd
