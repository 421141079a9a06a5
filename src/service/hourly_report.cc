#include "service/hourly_report.h"

#include <algorithm>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/json_writer.h"
#include "outboxd/rfc3339.h"
#include "outboxd/log.h"

namespace outboxd {
namespace {
constexpr std::string_view kReportedMeta = "hourly_reported_through";
}  // namespace

absl::Status HourlyReporter::AddRequestCount(uint64_t company_id, uint64_t count, TimeMs at) {
  Changes changes = store_->NewChanges();
  changes.AddRequestCount(company_id, HourOf(at), count);
  return store_->Apply(std::move(changes));
}

std::string HourlyReporter::ReportJson(uint64_t company_id, int64_t hour, uint64_t requests) {
  TimeMs start = hour * kHourMs;
  TimeMs end = start + kHourMs;
  JsonWriter w;
  w.BeginObject()
      .Key("id")
      .String(absl::StrCat(company_id, "-", FormatRfc3339(start)))
      .Key("company_id")
      .Uint(company_id)
      .Key("event_type")
      .String("requests_per_hour")
      .Key("occurred_at")
      .String(FormatRfc3339(end))
      .Key("hour_start")
      .String(FormatRfc3339(start))
      .Key("hour_end")
      .String(FormatRfc3339(end))
      .Key("requests")
      .Uint(requests)
      .EndObject();
  return std::move(w).Take();
}

absl::StatusOr<uint64_t> HourlyReporter::ReportHour(int64_t hour) {
  std::map<uint64_t, uint64_t> counts;
  for (uint64_t company : registry_->CompaniesWithHourlyReport()) counts[company] = 0;
  absl::Status s = store_->ForEachRequestCount(
      hour, [&](uint64_t company, uint64_t n) { counts[company] += n; });
  if (!s.ok()) return s;
  TimeMs now = clock_->NowMs();
  Changes changes = store_->NewChanges();
  uint64_t queued = 0;
  EventFacts facts;
  facts.type = EventType::kRequestsPerHour;
  for (const auto& [company, n] : counts) {
    std::string json = ReportJson(company, hour, n);
    queued += registry_->RouteInto({company, facts, json}, now, changes);
  }
  changes.PutMeta(kReportedMeta, absl::StrCat(hour));
  if (absl::Status a = store_->Apply(std::move(changes)); !a.ok()) return a;
  return queued;
}

absl::StatusOr<uint64_t> HourlyReporter::Tick() {
  MutexLock lock(&mu_);
  const int64_t last_finished = HourOf(clock_->NowMs()) - 1;
  auto marker = store_->GetMeta(kReportedMeta);
  if (!marker.ok()) return marker.status();
  int64_t reported = last_finished - 1;  // first run: report the last hour only
  if (marker->has_value() && !absl::SimpleAtoi(**marker, &reported))
    return absl::DataLossError("meta hourly_reported_through is not a number");
  reported = std::max(reported, last_finished - kMaxBackfillHours);
  uint64_t queued = 0;
  for (int64_t hour = reported + 1; hour <= last_finished; ++hour) {
    auto n = ReportHour(hour);
    if (!n.ok()) return n.status();
    queued += *n;
    Log(LogLevel::kInfo, "hourly report queued", {{"hour_start", FormatRfc3339(hour * kHourMs)},
                                                  {"deliveries", *n}});
  }
  return queued;
}

}  // namespace outboxd
