// Process-wide counters and the fsync latency histogram, rendered in the
// Prometheus text format. Lock-free: hot paths only add to atomics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "outboxd/store.h"

namespace outboxd {

// Cumulative histogram of durations in seconds with fixed buckets.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                     0.005,  0.01,    0.025,  0.05,  0.1,
                                                     0.25,   1.0};
  void Observe(double seconds);
  // Appends `name_bucket{le=...}`, `name_sum`, `name_count` lines.
  void Render(std::string_view name, std::string_view help, std::string* out) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};
};

struct IngestCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> rejected{0};  // 4xx answers
  std::atomic<uint64_t> events{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> deliveries{0};
  std::atomic<uint64_t> over_quota{0};
  std::atomic<uint64_t> write_errors{0};  // answered 503: the store refused the write
  LatencyHistogram fsync;  // durable write of one ingest request
};

// "# HELP name help\n# TYPE name type\n".
void AppendMetricHeader(std::string_view name, std::string_view type, std::string_view help,
                        std::string* out);

// The store's gauges (outboxd_store_*) from one OutboxStore::Stats().
void RenderStoreMetrics(const StoreStats& stats, std::string* out);

}  // namespace outboxd
