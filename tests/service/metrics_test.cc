// The Prometheus text of the store's gauges and of the latency histogram.
#include "service/metrics.h"

#include <gtest/gtest.h>

#include <string>

namespace outboxd {
namespace {

TEST(StoreMetricsTest, EveryGaugeHasItsHeaderAndValue) {
  StoreStats stats;
  stats.outbox_sst_bytes = 123;
  stats.memtable_bytes = 456;
  stats.pending_compaction_bytes = 789;
  stats.write_stopped = true;
  stats.delayed_write_rate = 16'000'000;
  std::string out;
  RenderStoreMetrics(stats, &out);
  for (const char* line : {
           "# TYPE outboxd_store_outbox_sst_bytes gauge\noutboxd_store_outbox_sst_bytes "
           "123\n",
           "# TYPE outboxd_store_memtable_bytes gauge\noutboxd_store_memtable_bytes "
           "456\n",
           "# TYPE outboxd_store_pending_compaction_bytes gauge\n"
           "outboxd_store_pending_compaction_bytes 789\n",
           "# TYPE outboxd_store_write_stopped gauge\noutboxd_store_write_stopped 1\n",
           "# TYPE outboxd_store_write_delay_bytes_per_second gauge\n"
           "outboxd_store_write_delay_bytes_per_second 16000000\n",
       }) {
    EXPECT_NE(out.find(line), std::string::npos) << line << "in:\n" << out;
  }
}

TEST(StoreMetricsTest, WritesNotStoppedIsZero) {
  std::string out;
  RenderStoreMetrics(StoreStats{}, &out);
  EXPECT_NE(out.find("\noutboxd_store_write_stopped 0\n"), std::string::npos) << out;
}

TEST(LatencyHistogramTest, BucketsAreCumulative) {
  LatencyHistogram h;
  h.Observe(0.00005);  // first bucket
  h.Observe(0.003);    // le=0.005
  h.Observe(2.0);      // only +Inf
  std::string out;
  h.Render("x_seconds", "help", &out);
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.0001\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.0025\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.005\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"1\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_count 3\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace outboxd
