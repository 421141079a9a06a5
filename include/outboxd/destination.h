// A destination kind (Data Collector "sentinel", Logs Ingestion
// "sentinel_dcr") behind one interface: build a request from a batch, say
// what an answer means. The dispatcher knows none of their details.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "outboxd/clock.h"
#include "outboxd/transport.h"

namespace outboxd {

// The records of one request: one integration, one log type.
struct BatchView {
  std::string_view log_type;
  absl::Span<const std::string_view> records;  // each a JSON object
};

struct DestinationLimits {
  uint64_t max_body_bytes = 1ull << 20;  // per request, as sent
  uint32_t max_records = 10'000;
  // Records of one request must lie within this span of their time field
  // (`time_field`, read by RecordTime); 0 = no limit.
  TimeMs max_time_span_ms = 0;
  std::string time_field;
};

enum class Verdict : uint8_t {
  kDelivered,       // 2xx: the records are stored
  kRetry,           // failed request: retry on the schedule
  kRejectRecords,   // the records are at fault (400 InvalidDataFormat):
                    // bisect; a single record goes to `dead`
  kSplit,           // too large / time range: split the batch and resend now
};

struct Answer {
  Verdict verdict = Verdict::kRetry;
  bool counts_as_failure = true;   // for the health window
  std::optional<TimeMs> retry_after_ms;
  std::string error_code;          // e.g. "InvalidAuthorization", "timeout"
  std::string message;             // the destination's message, if any
};

class Destination {
 public:
  virtual ~Destination() = default;
  virtual DestinationLimits limits() const = 0;
  // Builds the request for a batch (body, URL, signed headers). May need
  // asynchronous work (a token); `done` runs on the dispatcher's loop thread,
  // possibly inside the call.
  virtual void BuildRequest(const BatchView& batch, TimeMs now,
                            std::function<void(absl::StatusOr<HttpRequest>)> done) = 0;
  // What an answer means.
  virtual Answer Classify(const HttpResponse& response, TimeMs now) const = 0;
  // Called right before a request of `body_bytes` (uncompressed) is built.
  // nullopt: send it now (a pacing destination counts it as sent). A delay:
  // hold this request and everything after it for that long. The default
  // never holds.
  virtual std::optional<TimeMs> PaceDelay(uint64_t body_bytes, TimeMs now) {
    (void)body_bytes;
    (void)now;
    return std::nullopt;
  }
};

}  // namespace outboxd
