// The `sentinel_dcr` destination: the Azure Monitor Logs Ingestion API with
// a data collection rule (DCR). See DESIGN.md "Destinations".
//
// One request: POST <dce_endpoint>/dataCollectionRules/<dcr_immutable_id>
// /streams/<stream>?api-version=2023-01-01 with a gzipped JSON array of the
// batch's records and `Authorization: Bearer <token>` (Entra ID client
// credentials, destinations/token_provider.h). Success is 204.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "destinations/gzip.h"
#include "destinations/token_provider.h"
#include "outboxd/destination.h"
#include "outboxd/integration.h"

namespace outboxd {

// Azure's limit for one call, compressed and uncompressed ("1 MB"; taken as
// decimal megabytes, the smaller reading).
inline constexpr uint64_t kLogsIngestionMaxCallBytes = 1'000'000;
// The largest uncompressed body: its gzip can never exceed the call limit
// either (GzipBound), so the batcher needs one size limit, not two.
inline constexpr uint64_t kDcrMaxBodyBytes = 999'000;
static_assert(GzipBound(kDcrMaxBodyBytes) <= kLogsIngestionMaxCallBytes);
// Records of one call lie within this span of their time field.
inline constexpr TimeMs kDcrMaxTimeSpanMs = 30 * kMinuteMs;
// Per data collection rule: "12,000 requests and 2 GB per minute".
inline constexpr uint64_t kDcrRequestsPerMinute = 12'000;
inline constexpr uint64_t kDcrBytesPerMinute = 2'000'000'000;
// The answer code that asks for a batch over a shorter time range.
inline constexpr std::string_view kTimeRangeErrorCode = "RecordsTimeRangeIsMoreThan30Minutes";

// A token bucket for requests and one for bytes, sized so that no sliding
// minute ever carries more than the per-minute limits: a tenth of a minute's
// allowance may go at once, the rest comes at 90% of the rate.
// Not thread-safe (loop thread).
class RatePacer {
 public:
  RatePacer(uint64_t requests_per_minute, uint64_t bytes_per_minute, TimeMs start);

  // Takes one request of `bytes` and returns nullopt when both buckets hold
  // enough; else takes nothing and returns how long to wait (>= 1 ms) before
  // asking again. A request larger than the byte bucket waits until the
  // bucket is full and then goes.
  std::optional<TimeMs> Take(uint64_t bytes, TimeMs now);

 private:
  struct Bucket {
    double capacity = 0;
    double per_ms = 0;
    double level = 0;
  };
  void Refill(TimeMs now);

  Bucket requests_;
  Bucket bytes_;
  TimeMs last_ms_;
};

// The pacers of data collection rules, shared by every destination that
// sends to the same rule (Azure's limits are per rule, not per integration),
// and kept while any destination holds one — so an integration that is
// reconfigured keeps its rule's history. Not thread-safe (loop thread).
class RatePacers {
 public:
  // The pacer of the rule `dcr_immutable_id` (whatever the stream), made at
  // `now` on first use.
  std::shared_ptr<RatePacer> Get(const std::string& dcr_immutable_id, TimeMs now);

 private:
  absl::flat_hash_map<std::string, std::weak_ptr<RatePacer>> pacers_;
};

struct SentinelDcrOptions {
  // Largest uncompressed body; 0 means kDcrMaxBodyBytes, and it is clamped
  // to that.
  uint64_t max_body_bytes = 0;
  TimeMs request_timeout_ms = 30 * kSecondMs;
  // Required: token requests go through it (on its loop thread).
  Transport* transport = nullptr;
  // nullptr: RealClock().
  Clock* clock = nullptr;
  // Providers shared per credential; nullptr: the destination has its own.
  TokenProviders* tokens = nullptr;
  // Pacers shared per rule; nullptr: the destination paces alone.
  RatePacers* pacers = nullptr;
  TokenProviderOptions token;
  // zlib level. BuildRequest compresses on the dispatcher's loop thread:
  // level 1 packs JSON nearly as well as 6 at a third of the time.
  int gzip_level = 1;
};

// Not thread-safe: BuildRequest, Classify and PaceDelay run on the
// dispatcher's loop thread (the transport's), since tokens are fetched there.
//
// Example:
//   auto dest = SentinelDcrDestination::Create(config, {.transport = &transport});
//   (*dest)->BuildRequest(batch, now, [&](absl::StatusOr<HttpRequest> r) { ... });
class SentinelDcrDestination final : public Destination {
 public:
  // InvalidArgument when a required field (tenant_id, client_id,
  // client_secret, dce_endpoint, dcr_immutable_id, stream) is empty, the
  // endpoint or authority is not an http(s) URL, or the cloud is unknown;
  // FailedPrecondition without a transport.
  static absl::StatusOr<std::unique_ptr<SentinelDcrDestination>> Create(
      const IntegrationConfig& config, const SentinelDcrOptions& options);

  // max_body_bytes (uncompressed), max_time_span_ms = 30 min of the
  // integration's time_field.
  DestinationLimits limits() const override;

  // Builds and gzips the body inside the call (the batch is only valid
  // then), then calls `done` once a token is at hand: inside the call when
  // one is cached. Errors: InvalidArgument for an empty batch; OutOfRange
  // when the body exceeds limits().max_body_bytes; the token request's
  // error (token_provider.h) when no token could be had — the dispatcher
  // treats that as a failed request. The batch's log type is not used: the
  // stream decides the table.
  void BuildRequest(const BatchView& batch, TimeMs now,
                    std::function<void(absl::StatusOr<HttpRequest>)> done) override;

  // 2xx: delivered. 413 or RecordsTimeRangeIsMoreThan30Minutes: split (not
  // a failure: the batch was shaped wrong, the destination is fine). 401 and
  // 403: retry, and the cached token is dropped so the next request fetches
  // a new one. Anything else, including no answer: retry, with Retry-After
  // when the answer has one (429, 503). error_code comes from the body's
  // {"error":{"code"}}, else the x-ms-error-code header, else "http_<status>";
  // "token_request_failed" when the request could not get a token.
  Answer Classify(const HttpResponse& response, TimeMs now) const override;

  // Pacing under the rule's limits (RatePacer, kDcr*PerMinute): call before
  // sending a request of `body_bytes`. nullopt: send now (the request is
  // counted). Otherwise hold the request for the returned delay.
  std::optional<TimeMs> PaceDelay(uint64_t body_bytes, TimeMs now) override;

  const std::string& url() const { return url_; }
  TokenProvider& token_provider() const { return *tokens_; }

 private:
  SentinelDcrDestination(const IntegrationConfig& config, std::string url,
                         std::shared_ptr<TokenProvider> tokens,
                         const SentinelDcrOptions& options, TimeMs now);
  absl::StatusOr<HttpRequest> BuildUnsigned(const BatchView& batch) const;

  std::string url_;
  std::shared_ptr<TokenProvider> tokens_;
  uint64_t tag_;
  uint64_t max_body_bytes_;
  TimeMs request_timeout_ms_;
  int gzip_level_;
  std::string time_field_;
  std::shared_ptr<RatePacer> pacer_;
};

// The ingestion URL of a config (see the file comment). InvalidArgument when
// dce_endpoint is not an http(s) URL or a path part is empty.
absl::StatusOr<std::string> DcrIngestionUrl(const IntegrationConfig& config);

}  // namespace outboxd
