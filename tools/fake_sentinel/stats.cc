#include "stats.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace outboxd::fake_sentinel {

void Stats::ConnectionOpened() {
  MutexLock lock(&mu_);
  ++connections_;
  ++open_connections_;
}

void Stats::ConnectionClosed() {
  MutexLock lock(&mu_);
  --open_connections_;
}

void Stats::RequestStarted() {
  MutexLock lock(&mu_);
  ++requests_;
  ++in_flight_;
  peak_in_flight_ = std::max(peak_in_flight_, in_flight_);
}

void Stats::RequestFinished(int status) {
  MutexLock lock(&mu_);
  --in_flight_;
  if (status != 0) ++by_status_[status];
}

void Stats::RecordsAccepted(size_t records) {
  MutexLock lock(&mu_);
  ++accepted_requests_;
  accepted_records_ += records;
}

void Stats::Reset() {
  MutexLock lock(&mu_);
  ++resets_;
}

void Stats::TimedOut() {
  MutexLock lock(&mu_);
  ++timeouts_;
}

std::string Stats::Json() const {
  MutexLock lock(&mu_);
  std::string by_status;
  for (const auto& [status, count] : by_status_) {
    absl::StrAppend(&by_status, by_status.empty() ? "" : ",", "\"", status, "\":", count);
  }
  return absl::StrCat(
      "{\"requests\":", requests_, ",\"accepted_requests\":", accepted_requests_,
      ",\"accepted_records\":", accepted_records_, ",\"by_status\":{", by_status,
      "},\"in_flight\":", in_flight_, ",\"peak_in_flight\":", peak_in_flight_,
      ",\"connections\":", connections_, ",\"open_connections\":", open_connections_,
      ",\"resets\":", resets_, ",\"timeouts\":", timeouts_, "}");
}

}  // namespace outboxd::fake_sentinel
