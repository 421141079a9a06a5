// The `sentinel` destination: Azure Monitor HTTP Data Collector API.
//
// One request = one log type: POST <base>/api/logs?api-version=2016-04-01
// with a JSON array of the batch's records, signed with SharedKey
// (include/outboxd/signer.h). See DESIGN.md "Destinations".
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "outboxd/destination.h"
#include "outboxd/integration.h"
#include "outboxd/signer.h"

namespace outboxd {

// The API's hard limit for one post (Azure documents "30 MB"; taken as
// decimal megabytes, the smaller reading).
inline constexpr uint64_t kDataCollectorMaxBodyBytes = 30'000'000;

struct SentinelOptions {
  // Largest body this destination builds; clamped to
  // kDataCollectorMaxBodyBytes. 0 means the default.
  uint64_t max_body_bytes = 8ull << 20;
  TimeMs request_timeout_ms = 30 * kSecondMs;
};

// "[" + records joined by "," + "]". The records are already JSON objects and
// are copied as they are; one allocation of the exact size.
std::string BuildJsonArrayBody(absl::Span<const std::string_view> records);

// The request URL of a config: https://<workspace>.ods.opinsights.azure.<tld>
// for the config's cloud, or config.endpoint when set. InvalidArgument for an
// unknown cloud.
absl::StatusOr<std::string> SentinelUrl(const IntegrationConfig& config);

// Immutable after Create, so BuildRequest and Classify may run on any thread.
//
// Example:
//   auto dest = SentinelDestination::Create(config, {});
//   absl::StatusOr<HttpRequest> request = (*dest)->BuildRequestNow(batch, now);
class SentinelDestination final : public Destination {
 public:
  // InvalidArgument when the workspace ID is not a GUID, the primary key is
  // not base64, or the cloud is unknown.
  static absl::StatusOr<std::unique_ptr<SentinelDestination>> Create(
      const IntegrationConfig& config, const SentinelOptions& options);

  DestinationLimits limits() const override;

  // Calls `done` before returning. Errors: InvalidArgument for an invalid
  // log type or an empty batch; OutOfRange when the body would exceed
  // limits().max_body_bytes (the caller splits the batch; a single record
  // that large can never be sent).
  void BuildRequest(const BatchView& batch, TimeMs now,
                    std::function<void(absl::StatusOr<HttpRequest>)> done) override;
  // The same, returned directly: this destination never waits for anything.
  absl::StatusOr<HttpRequest> BuildRequestNow(const BatchView& batch, TimeMs now) const;

  // 2xx: delivered. 400 InvalidDataFormat: the records are at fault. 413:
  // split. Anything else, including no answer (status 0): retry, with
  // Retry-After when the answer has one. Every non-2xx counts as a failure.
  Answer Classify(const HttpResponse& response, TimeMs now) const override;

  const std::string& url() const { return url_; }

 private:
  SentinelDestination(const IntegrationConfig& config, SharedKeySigner signer,
                      std::string url, const SentinelOptions& options);
  SharedKeySigner signer_;
  std::string url_;
  std::string time_field_;
  uint64_t tag_;
  uint64_t max_body_bytes_;
  TimeMs request_timeout_ms_;
};

}  // namespace outboxd
