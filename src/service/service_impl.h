// The Service the HTTP layer calls (src/api/service.h), implemented over the
// registry, the store, the hourly reporter and the dispatcher's loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "api/service.h"
#include "dispatch/dispatcher.h"
#include "outboxd/clock.h"
#include "outboxd/log.h"
#include "outboxd/mutex.h"
#include "outboxd/store.h"
#include "outboxd/transport.h"
#include "service/hourly_report.h"
#include "service/metrics.h"
#include "service/registry.h"

namespace outboxd {

// The dispatcher's loop, seen from other threads: `post` runs a function on
// the loop thread, where `dispatcher`, `transport` and `destinations` may be
// used.
struct LoopAccess {
  std::function<void(std::function<void()>)> post;
  Dispatcher* dispatcher = nullptr;
  Transport* transport = nullptr;
  DestinationFactory destinations;
};

struct ServiceOptions {
  // Ingest answers 503 once the store's files (SST + WAL) reach this many
  // bytes; 0 = no quota.
  uint64_t disk_quota_bytes = 0;
  TimeMs retry_after_when_full_ms = 30 * kSecondMs;
  TimeMs test_timeout_ms = 15 * kSecondMs;
};

class ServiceImpl final : public Service {
 public:
  ServiceImpl(OutboxStore* store, Registry* registry, HourlyReporter* hourly, Clock* clock,
              LoopAccess loop, ServiceOptions options);

  absl::StatusOr<IngestResult> Ingest(std::vector<ParsedEvent> events) override;
  absl::Status AddRequestCount(uint64_t company_id, uint64_t count, TimeMs at) override;
  absl::StatusOr<IntegrationConfig> CreateIntegration(IntegrationConfig config) override;
  std::vector<IntegrationConfig> ListIntegrations() override;
  absl::StatusOr<IntegrationConfig> GetIntegration(uint64_t id) override;
  absl::StatusOr<IntegrationConfig> UpdateIntegration(uint64_t id,
                                                      IntegrationConfig updated) override;
  absl::Status DeleteIntegration(uint64_t id) override;
  absl::StatusOr<IntegrationConfig> SetEnabled(uint64_t id, bool enabled) override;
  void TestIntegration(IntegrationConfig config,
                       std::function<void(absl::StatusOr<TestResult>)> done) override;
  absl::StatusOr<IntegrationStatsView> Stats(uint64_t id) override;
  absl::StatusOr<std::vector<DeadDelivery>> ListDead(uint64_t id, size_t limit) override;
  absl::StatusOr<ReplayResult> ReplayDead(uint64_t id,
                                          std::vector<uint64_t> seqs) override;
  std::string Metrics() override;
  bool Healthy() override { return !closing_.load(); }

  // New ingest is refused (503) from now on.
  void SetClosing() { closing_.store(true); }
  // Re-reads the store size for the quota (call every second or so, from
  // one thread). Over the quota it first flushes the memtables, at most
  // every kQuotaFlushIntervalMs: WAL files are deleted only once all the
  // data in them is flushed, so without it a drained outbox would stay over
  // its quota (and refuse ingest) until a restart. Still over the quota
  // after that flush, it compacts the outbox: delivered entries and their
  // removals flushed to different table files only go in a compaction.
  void RefreshDiskUsage();
  static constexpr TimeMs kQuotaFlushIntervalMs = 5'000;
  // What the last RefreshDiskUsage read; /metrics renders it instead of
  // reading the store (and listing its WAL files) again on every scrape.
  StoreStats LastStoreStats() const;
  // The store's part of Metrics(): disk, fresh-cache and log-only gauges,
  // then LastStoreStats(). Needs no dispatcher.
  void RenderStoreGauges(std::string* out) const;
  IngestCounters& ingest_counters() { return ingest_; }

  // The test record sent by Test integration (log type create_user).
  static std::string TestRecordJson(const IntegrationConfig& config, TimeMs now);

 private:
  // Runs `fn` on the loop and waits for it (bounded); false on timeout.
  bool CallOnLoop(const std::function<void()>& fn);
  void RenderIntegrationMetrics(std::string* out);
  // RefreshDiskUsage, still over `quota` after a flush: compacts the outbox
  // and refreshes *s.
  void CompactOverQuota(StoreStats* s, uint64_t quota);

  OutboxStore* store_;
  Registry* registry_;
  HourlyReporter* hourly_;
  Clock* clock_;
  LoopAccess loop_;
  ServiceOptions options_;
  std::atomic<bool> closing_{false};
  std::atomic<uint64_t> disk_bytes_{0};
  mutable Mutex stats_mu_;
  StoreStats last_stats_ ABSL_GUARDED_BY(stats_mu_);
  TimeMs last_quota_flush_ms_ = 0;  // RefreshDiskUsage's thread only
  IngestCounters ingest_;
  LogThrottle write_error_log_;
};

}  // namespace outboxd
