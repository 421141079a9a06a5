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

void RenderStoreMetrics(const StoreStats& stats, std::string* out) {
  auto gauge = [out](std::string_view name, std::string_view help, uint64_t v) {
    AppendMetricHeader(name, "gauge", help, out);
    absl::StrAppend(out, Sv(name), " ", v, "\n");
  };
  gauge("outboxd_store_outbox_sst_bytes",
        "Outbox table files: deliveries and removals written to disk. Near 0 while "
        "delivery keeps up; grows with a backlog.",
        stats.outbox_sst_bytes);
  gauge("outboxd_store_memtable_bytes", "Memtables of every column family.",
        stats.memtable_bytes);
  gauge("outboxd_store_pending_compaction_bytes",
        "Bytes RocksDB estimates its compactions still have to rewrite.",
        stats.pending_compaction_bytes);
  gauge("outboxd_store_write_stopped",
        "1 while RocksDB stops writes (memtables or level-0 files pile up).",
        stats.write_stopped ? 1 : 0);
  gauge("outboxd_store_write_delay_bytes_per_second",
        "The write rate RocksDB imposes while it slows writes; 0 when it does not.",
        stats.delayed_write_rate);
}

}  // namespace outboxd
