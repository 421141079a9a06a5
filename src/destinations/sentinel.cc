#include "destinations/sentinel.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "outboxd/retry.h"
#include "simdjson.h"

namespace outboxd {
namespace {

constexpr std::string_view kApiPath = "/api/logs?api-version=2016-04-01";

struct CloudHost {
  std::string_view cloud;
  std::string_view host_suffix;
};
// DESIGN.md "Tables": the Data Collector host per cloud; "" is public.
constexpr std::array<CloudHost, 4> kCloudHosts = {{
    {"", ".ods.opinsights.azure.com"},
    {"public", ".ods.opinsights.azure.com"},
    {"usgov", ".ods.opinsights.azure.us"},
    {"china", ".ods.opinsights.azure.cn"},
}};

// Answers are small; a larger body is not an Azure error document.
constexpr size_t kMaxErrorBodyBytes = 64 * 1024;
// What of a non-JSON body goes into Answer::message.
constexpr size_t kMaxRawMessageBytes = 256;

struct AzureError {
  std::string code;
  std::string message;
};

// Azure answers errors as {"Error":"<code>","Message":"<text>"}. Anything
// else (HTML from a proxy, truncated JSON) yields empty fields.
AzureError ParseAzureError(std::string_view body) {
  AzureError out;
  if (body.empty() || body.size() > kMaxErrorBodyBytes) return out;
  simdjson::padded_string padded(body);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS) return out;
  simdjson::ondemand::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) return out;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) break;
    std::string* target = key == "Error"     ? &out.code
                          : key == "Message" ? &out.message
                                             : nullptr;
    if (target == nullptr) continue;  // the value is skipped by the iteration
    std::string_view value;
    if (field.value().get_string().get(value) != simdjson::SUCCESS) break;
    target->assign(value);
  }
  return out;
}

// A non-JSON body, cut short and reduced to printable ASCII so that it can
// go into logs and JSON answers as it is.
std::string RawMessage(std::string_view body) {
  std::string out(body.substr(0, kMaxRawMessageBytes));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = ' ';
  }
  return out;
}

}  // namespace

std::string BuildJsonArrayBody(absl::Span<const std::string_view> records) {
  size_t size = 2 + (records.empty() ? 0 : records.size() - 1);
  for (std::string_view r : records) size += r.size();
  std::string body;
  body.reserve(size);
  body.push_back('[');
  for (size_t i = 0; i < records.size(); ++i) {
    if (i != 0) body.push_back(',');
    body.append(records[i]);
  }
  body.push_back(']');
  return body;
}

absl::StatusOr<std::string> SentinelUrl(const IntegrationConfig& config) {
  if (!config.endpoint.empty()) {
    std::string_view base = config.endpoint;
    while (base.ends_with('/')) base.remove_suffix(1);
    std::string url(base);
    url.append(kApiPath);
    return url;
  }
  for (const CloudHost& host : kCloudHosts) {
    if (host.cloud != config.cloud) continue;
    std::string url = absl::StrCat("https://", config.workspace_id);
    url.append(host.host_suffix);
    url.append(kApiPath);
    return url;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown cloud \"", config.cloud, "\" (public, usgov or china)"));
}

absl::StatusOr<std::unique_ptr<SentinelDestination>> SentinelDestination::Create(
    const IntegrationConfig& config, const SentinelOptions& options) {
  if (!IsGuid(config.workspace_id)) {
    return absl::InvalidArgumentError("workspace_id must be a GUID");
  }
  absl::StatusOr<SharedKeySigner> signer =
      SharedKeySigner::Create(config.workspace_id, config.primary_key);
  if (!signer.ok()) return signer.status();
  absl::StatusOr<std::string> url = SentinelUrl(config);
  if (!url.ok()) return url.status();
  return std::unique_ptr<SentinelDestination>(
      new SentinelDestination(config, *std::move(signer), *std::move(url), options));
}

SentinelDestination::SentinelDestination(const IntegrationConfig& config,
                                         SharedKeySigner signer, std::string url,
                                         const SentinelOptions& options)
    : signer_(std::move(signer)),
      url_(std::move(url)),
      time_field_(config.time_field),
      tag_(config.id),
      max_body_bytes_(std::min(options.max_body_bytes == 0
                                   ? SentinelOptions().max_body_bytes
                                   : options.max_body_bytes,
                               kDataCollectorMaxBodyBytes)),
      request_timeout_ms_(options.request_timeout_ms) {}

DestinationLimits SentinelDestination::limits() const {
  DestinationLimits limits;
  limits.max_body_bytes = max_body_bytes_;
  return limits;
}

absl::StatusOr<HttpRequest> SentinelDestination::BuildRequestNow(const BatchView& batch,
                                                                 TimeMs now) const {
  if (absl::Status valid = ValidateLogType(batch.log_type); !valid.ok()) return valid;
  if (batch.records.empty()) return absl::InvalidArgumentError("empty batch");
  HttpRequest request;
  request.body = BuildJsonArrayBody(batch.records);
  if (request.body.size() > max_body_bytes_) {
    return absl::OutOfRangeError(absl::StrCat("body of ", request.body.size(),
                                              " bytes exceeds the limit of ",
                                              max_body_bytes_));
  }
  const std::string date = Rfc1123Date(now);
  request.method = "POST";
  request.url = url_;
  request.headers.reserve(5);
  request.headers.emplace_back("Content-Type", "application/json");
  request.headers.emplace_back("Log-Type", std::string(batch.log_type));
  request.headers.emplace_back("x-ms-date", date);
  if (!time_field_.empty()) {
    request.headers.emplace_back("time-generated-field", time_field_);
  }
  request.headers.emplace_back("Authorization",
                               signer_.Authorization(request.body.size(), date));
  request.timeout_ms = request_timeout_ms_;
  request.tag = tag_;
  return request;
}

void SentinelDestination::BuildRequest(
    const BatchView& batch, TimeMs now,
    std::function<void(absl::StatusOr<HttpRequest>)> done) {
  done(BuildRequestNow(batch, now));
}

Answer SentinelDestination::Classify(const HttpResponse& response, TimeMs now) const {
  Answer answer;
  if (response.ok()) {
    answer.verdict = Verdict::kDelivered;
    answer.counts_as_failure = false;
    return answer;
  }
  // DESIGN.md: any answer other than 2xx, a timeout or a connection error is
  // a failed request.
  answer.verdict = Verdict::kRetry;
  answer.counts_as_failure = true;
  if (response.status == 0) {
    answer.error_code = response.timed_out ? "timeout" : "transport_error";
    answer.message = response.transport_error;
    return answer;
  }
  AzureError error = ParseAzureError(response.body);
  const bool from_azure = !error.code.empty();
  answer.error_code =
      from_azure ? std::move(error.code) : absl::StrCat("http_", response.status);
  answer.message = from_azure ? std::move(error.message) : RawMessage(response.body);
  if (std::string_view retry_after = response.Header("retry-after");
      !retry_after.empty()) {
    answer.retry_after_ms = ParseRetryAfter(retry_after, now);
  }
  if (response.status == 400 && answer.error_code == "InvalidDataFormat") {
    answer.verdict = Verdict::kRejectRecords;
  } else if (response.status == 413) {
    answer.verdict = Verdict::kSplit;  // too large for the receiver: halve it
  }
  return answer;
}

}  // namespace outboxd
