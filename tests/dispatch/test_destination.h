// A minimal destination for dispatcher tests: the body is the JSON array of
// the records, the URL names the integration and log type, and answers are
// classified the way the Data Collector API's are (400 InvalidDataFormat
// rejects records, 2xx delivers, anything else retries, Retry-After honoured).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "outboxd/destination.h"
#include "outboxd/retry.h"
#include "outboxd/strings.h"

namespace outboxd {

class TestDestination final : public Destination {
 public:
  // `pace` (optional) answers PaceDelay.
  using Pace = std::function<std::optional<TimeMs>(uint64_t body_bytes, TimeMs now)>;
  explicit TestDestination(uint64_t id, DestinationLimits limits = {}, Pace pace = nullptr)
      : id_(id), limits_(limits), pace_(std::move(pace)) {}
  std::optional<TimeMs> PaceDelay(uint64_t body_bytes, TimeMs now) override {
    return pace_ ? pace_(body_bytes, now) : std::nullopt;
  }
  DestinationLimits limits() const override { return limits_; }
  void BuildRequest(const BatchView& batch, TimeMs now,
                    std::function<void(absl::StatusOr<HttpRequest>)> done) override {
    HttpRequest r;
    r.url = absl::StrCat("http://test/", id_, "/", Sv(batch.log_type));
    r.headers.emplace_back("log-type", std::string(batch.log_type));
    r.body.push_back('[');  // not = "[": GCC 12 warns falsely (-Wrestrict, PR 105329)
    for (size_t i = 0; i < batch.records.size(); ++i) {
      if (i > 0) r.body += ",";
      r.body.append(batch.records[i]);
    }
    r.body += "]";
    done(std::move(r));
  }
  Answer Classify(const HttpResponse& response, TimeMs now) const override {
    Answer a;
    if (response.ok()) {
      a.verdict = Verdict::kDelivered;
      a.counts_as_failure = false;
      return a;
    }
    if (response.status == 400 && absl::StrContains(response.body, "InvalidDataFormat")) {
      a.verdict = Verdict::kRejectRecords;
      a.counts_as_failure = false;
      a.error_code = "InvalidDataFormat";
      return a;
    }
    a.verdict = Verdict::kRetry;
    a.error_code = response.status == 0 ? "transport" : absl::StrCat("http_", response.status);
    if (auto ra = response.Header("retry-after"); !ra.empty())
      a.retry_after_ms = ParseRetryAfter(ra, now);
    return a;
  }

 private:
  uint64_t id_;
  DestinationLimits limits_;
  Pace pace_;
};

}  // namespace outboxd
