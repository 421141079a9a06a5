#include "service/metrics.h"

#include "absl/strings/str_cat.h"
#include "outboxd/strings.h"

namespace outboxd {

void LatencyHistogram::Observe(double seconds) {
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void AppendMetricHeader(std::string_view name, std::string_view type, std::string_view help,
                        std::string* out) {
  absl::StrAppend(out, "# HELP ", Sv(name), " ", Sv(help), "\n# TYPE ", Sv(name), " ", Sv(type), "\n");
}

void LatencyHistogram::Render(std::string_view name, std::string_view help,
                              std::string* out) const {
  AppendMetricHeader(name, "histogram", help, out);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    absl::StrAppend(out, Sv(name), "_bucket{le=\"", kBounds[i], "\"} ", cumulative, "\n");
  }
  cumulative += buckets_[kBounds.size()].load(std::memory_order_relaxed);
  absl::StrAppend(out, Sv(name), "_bucket{le=\"+Inf\"} ", cumulative, "\n");
  absl::StrAppend(out, Sv(name), "_sum ", sum_micros_.load(std::memory_order_relaxed) / 1e6, "\n");
  absl::StrAppend(out, Sv(name), "_count ", count_.load(std::memory_order_relaxed), "\n");
}

}  // namespace outboxd
