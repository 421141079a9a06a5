#include "destinations/sentinel_dcr.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "destinations/sentinel.h"
#include "outboxd/retry.h"
#include "simdjson.h"

namespace outboxd {
namespace {

constexpr char kApiVersion[] = "?api-version=2023-01-01";
// Answers are small; a larger body is not an Azure error document.
constexpr size_t kMaxErrorBodyBytes = 64 * 1024;
// What of a non-JSON body goes into Answer::message.
constexpr size_t kMaxRawMessageBytes = 256;
// RatePacer: the share of a minute's allowance that may go at once.
constexpr double kBurstShare = 0.1;

struct AzureError {
  std::string code;
  std::string message;
};

// Reads {"code": .., "message": ..} of the "error" object.
void ReadErrorObject(simdjson::ondemand::object error, AzureError* out) {
  for (auto field : error) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) return;
    std::string* target = key == "code" ? &out->code : key == "message" ? &out->message : nullptr;
    if (target == nullptr) continue;
    std::string_view value;
    if (field.value().get_string().get(value) != simdjson::SUCCESS) return;
    target->assign(value);
  }
}

// The Logs Ingestion API answers errors as
// {"error":{"code":"<code>","message":"<text>"}}. Anything else (HTML from
// a proxy, truncated JSON) yields empty fields.
AzureError ParseAzureError(std::string_view body) {
  AzureError out;
  if (body.empty() || body.size() > kMaxErrorBodyBytes) return out;
  simdjson::padded_string padded(body);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(object) != simdjson::SUCCESS) {
    return out;
  }
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) break;
    if (key != "error") continue;
    simdjson::ondemand::object error;
    if (field.value().get_object().get(error) == simdjson::SUCCESS) ReadErrorObject(error, &out);
    break;
  }
  return out;
}

// Printable ASCII, cut short: it goes into logs and JSON answers as it is.
std::string Printable(std::string_view text) {
  std::string out(text.substr(0, kMaxRawMessageBytes));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = ' ';
  }
  return out;
}

bool IsHttpUrl(std::string_view url) {
  return url.starts_with("https://") || url.starts_with("http://");
}

}  // namespace

RatePacer::RatePacer(uint64_t requests_per_minute, uint64_t bytes_per_minute, TimeMs start)
    : last_ms_(start) {
  for (auto [bucket, per_minute] : {std::pair{&requests_, requests_per_minute},
                                    std::pair{&bytes_, bytes_per_minute}}) {
    bucket->capacity = kBurstShare * static_cast<double>(per_minute);
    bucket->per_ms = (1 - kBurstShare) * static_cast<double>(per_minute) / kMinuteMs;
    bucket->level = bucket->capacity;
  }
}

void RatePacer::Refill(TimeMs now) {
  if (now <= last_ms_) return;  // the clock went back: wait for it
  const double elapsed = static_cast<double>(now - last_ms_);
  for (Bucket* b : {&requests_, &bytes_}) {
    b->level = std::min(b->capacity, b->level + elapsed * b->per_ms);
  }
  last_ms_ = now;
}

std::optional<TimeMs> RatePacer::Take(uint64_t bytes, TimeMs now) {
  Refill(now);
  const double want_bytes = std::min(static_cast<double>(bytes), bytes_.capacity);
  double wait_ms = 0;
  if (requests_.level < 1) wait_ms = (1 - requests_.level) / requests_.per_ms;
  if (bytes_.level < want_bytes) {
    wait_ms = std::max(wait_ms, (want_bytes - bytes_.level) / bytes_.per_ms);
  }
  if (wait_ms > 0) return std::max<TimeMs>(1, static_cast<TimeMs>(std::ceil(wait_ms)));
  requests_.level -= 1;
  bytes_.level -= want_bytes;
  return std::nullopt;
}

absl::StatusOr<std::string> DcrIngestionUrl(const IntegrationConfig& config) {
  std::string_view base = config.dce_endpoint;
  while (base.ends_with('/')) base.remove_suffix(1);
  if (!IsHttpUrl(base)) {
    return absl::InvalidArgumentError("dce_endpoint must be an http(s) URL");
  }
  if (config.dcr_immutable_id.empty()) {
    return absl::InvalidArgumentError("dcr_immutable_id is required");
  }
  if (config.stream.empty()) return absl::InvalidArgumentError("stream is required");
  // Debian's abseil has its own string_view type: convert for StrCat.
  return absl::StrCat(absl::string_view(base.data(), base.size()), "/dataCollectionRules/", UrlEncode(config.dcr_immutable_id),
                      "/streams/", UrlEncode(config.stream), kApiVersion);
}

absl::StatusOr<std::unique_ptr<SentinelDcrDestination>> SentinelDcrDestination::Create(
    const IntegrationConfig& config, const SentinelDcrOptions& options) {
  if (options.transport == nullptr) {
    return absl::FailedPreconditionError("sentinel_dcr needs a transport for its tokens");
  }
  if (config.client_secret.empty()) {
    return absl::InvalidArgumentError("client_secret is required");
  }
  if (!config.authority.empty() && !IsHttpUrl(config.authority)) {
    return absl::InvalidArgumentError("authority must be an http(s) URL");
  }
  absl::StatusOr<TokenCredential> credential = DcrTokenCredential(config);
  if (!credential.ok()) return credential.status();
  absl::StatusOr<std::string> url = DcrIngestionUrl(config);
  if (!url.ok()) return url.status();
  Clock* clock = options.clock != nullptr ? options.clock : RealClock();
  std::shared_ptr<TokenProvider> tokens =
      options.tokens != nullptr
          ? options.tokens->Get(*credential)
          : TokenProvider::Create(options.transport, clock, *std::move(credential),
                                  options.token);
  return std::unique_ptr<SentinelDcrDestination>(new SentinelDcrDestination(
      config, *std::move(url), std::move(tokens), options, clock->NowMs()));
}

SentinelDcrDestination::SentinelDcrDestination(const IntegrationConfig& config,
                                               std::string url,
                                               std::shared_ptr<TokenProvider> tokens,
                                               const SentinelDcrOptions& options, TimeMs now)
    : url_(std::move(url)),
      tokens_(std::move(tokens)),
      tag_(config.id),
      max_body_bytes_(options.max_body_bytes == 0
                          ? kDcrMaxBodyBytes
                          : std::min(options.max_body_bytes, kDcrMaxBodyBytes)),
      request_timeout_ms_(options.request_timeout_ms),
      gzip_level_(options.gzip_level),
      time_field_(config.time_field),
      pacer_(options.pacers != nullptr
                 ? options.pacers->Get(config.dcr_immutable_id, now)
                 : std::make_shared<RatePacer>(kDcrRequestsPerMinute, kDcrBytesPerMinute, now)) {}

DestinationLimits SentinelDcrDestination::limits() const {
  DestinationLimits limits;
  limits.max_body_bytes = max_body_bytes_;
  limits.max_time_span_ms = kDcrMaxTimeSpanMs;
  limits.time_field = time_field_;
  return limits;
}

absl::StatusOr<HttpRequest> SentinelDcrDestination::BuildUnsigned(const BatchView& batch) const {
  if (batch.records.empty()) return absl::InvalidArgumentError("empty batch");
  const std::string json = BuildJsonArrayBody(batch.records);
  if (json.size() > max_body_bytes_) {
    return absl::OutOfRangeError(absl::StrCat("body of ", json.size(),
                                              " bytes exceeds the limit of ", max_body_bytes_));
  }
  absl::StatusOr<std::string> gzipped = GzipCompress(json, gzip_level_);
  if (!gzipped.ok()) return gzipped.status();
  HttpRequest request;
  request.method = "POST";
  request.url = url_;
  request.body = *std::move(gzipped);
  request.headers.reserve(4);
  request.headers.emplace_back("Content-Type", "application/json");
  request.headers.emplace_back("Content-Encoding", "gzip");
  request.timeout_ms = request_timeout_ms_;
  request.tag = tag_;
  return request;
}

void SentinelDcrDestination::BuildRequest(
    const BatchView& batch, TimeMs now, std::function<void(absl::StatusOr<HttpRequest>)> done) {
  absl::StatusOr<HttpRequest> request = BuildUnsigned(batch);
  if (!request.ok()) {
    done(request.status());
    return;
  }
  // Captures nothing of `this`: the provider answers even when this
  // destination is gone by then.
  tokens_->GetToken([request = *std::move(request),
                     done = std::move(done)](absl::StatusOr<std::string> token) mutable {
    if (!token.ok()) {
      done(token.status());
      return;
    }
    request.headers.emplace_back("Authorization", absl::StrCat("Bearer ", *token));
    done(std::move(request));
  });
}

Answer SentinelDcrDestination::Classify(const HttpResponse& response, TimeMs now) const {
  Answer answer;
  if (response.ok()) {
    answer.verdict = Verdict::kDelivered;
    answer.counts_as_failure = false;
    return answer;
  }
  answer.verdict = Verdict::kRetry;
  answer.counts_as_failure = true;
  if (response.status == 0) {
    answer.error_code = response.timed_out ? "timeout"
                        : response.transport_error.find(kTokenRequestFailed) != std::string::npos
                            ? "token_request_failed"
                            : "transport_error";
    answer.message = response.transport_error;
    return answer;
  }
  AzureError error = ParseAzureError(response.body);
  if (error.code.empty()) error.code = std::string(response.Header("x-ms-error-code"));
  answer.error_code =
      error.code.empty() ? absl::StrCat("http_", response.status) : Printable(error.code);
  answer.message = Printable(error.message.empty() && error.code.empty() ? response.body
                                                                         : error.message);
  if (std::string_view retry_after = response.Header("retry-after"); !retry_after.empty()) {
    answer.retry_after_ms = ParseRetryAfter(retry_after, now);
  }
  if (response.status == 413 || answer.error_code == kTimeRangeErrorCode) {
    answer.verdict = Verdict::kSplit;
    answer.counts_as_failure = false;
  } else if (response.status == 401 || response.status == 403) {
    // The request carried a token from before it was sent.
    tokens_->Invalidate(now - response.latency_ms);
  }
  return answer;
}

std::optional<TimeMs> SentinelDcrDestination::PaceDelay(uint64_t body_bytes, TimeMs now) {
  return pacer_->Take(body_bytes, now);
}

std::shared_ptr<RatePacer> RatePacers::Get(const std::string& dcr_immutable_id, TimeMs now) {
  if (auto it = pacers_.find(dcr_immutable_id); it != pacers_.end()) {
    if (std::shared_ptr<RatePacer> pacer = it->second.lock()) return pacer;
  }
  // Drop the entries of rules nobody sends to any more.
  absl::erase_if(pacers_, [](const auto& entry) { return entry.second.expired(); });
  auto pacer = std::make_shared<RatePacer>(kDcrRequestsPerMinute, kDcrBytesPerMinute, now);
  pacers_[dcr_immutable_id] = pacer;
  return pacer;
}

}  // namespace outboxd
