// ServiceImpl's disk quota over a real store: ingest is refused (503) at the
// quota and accepted again once the outbox drained, without a restart. The
// WAL files of a drained outbox stay on disk until its memtables are
// flushed, so RefreshDiskUsage must flush to see the space come back.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/ingest_parser.h"
#include "fakes/temp_dir.h"
#include "service/registry.h"
#include "service/service_fixture.h"
#include "service/service_impl.h"

namespace outboxd {
namespace {

constexpr uint64_t kQuota = 1 << 20;
constexpr int kEvents = 300;
constexpr size_t kEventBytes = 8 << 10;  // 300 x 8 KiB: 2.4 MB, over the quota

class DiskQuotaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    box_ = testing::TestSecretBox();
    // No crash here: sync off; the WAL is written all the same.
    ASSERT_TRUE(testing::OpenStoreAndRegistry(dir_.Sub("outbox"), &clock_, box_.get(),
                                              /*sync=*/false, &store_, &registry_)
                    .ok());
    ServiceOptions options;
    options.disk_quota_bytes = kQuota;
    service_ = std::make_unique<ServiceImpl>(store_.get(), registry_.get(), nullptr, &clock_,
                                             LoopAccess{}, options);
  }

  // Enqueues kEvents deliveries for integration 1 straight into the store.
  // The padding does not compress: flushed to a table it still takes its
  // size on disk.
  std::vector<DeliveryKey> Fill() {
    Changes c = store_->NewChanges();
    std::vector<DeliveryKey> keys;
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < kEvents; ++i) {
      std::string pad(kEventBytes, ' ');
      for (char& ch : pad) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
        ch = static_cast<char>('a' + x % 26);
      }
      keys.push_back(c.Enqueue(1, "new_hits",
                               absl::StrCat(R"({"id":")", i, R"(","pad":")", pad, R"("})"),
                               clock_.NowMs(), clock_.NowMs()));
    }
    EXPECT_TRUE(store_->Apply(std::move(c)).ok());
    return keys;
  }

  absl::Status IngestOne() {
    ParsedEvent e;
    e.raw = R"({"id":"q","company_id":9,"type":"hit"})";
    e.company_id = 9;  // no integration: nothing is enqueued, the quota still applies
    std::vector<ParsedEvent> events;
    events.push_back(std::move(e));
    return service_->Ingest(std::move(events)).status();
  }

  TempDir dir_;
  FakeClock clock_{1'800'000'000'000};
  std::unique_ptr<SecretBox> box_;
  std::unique_ptr<OutboxStore> store_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<ServiceImpl> service_;
};

// /metrics renders the store figures the last refresh read: the deliveries
// flushed to a table file show once RefreshDiskUsage has run, not before.
TEST_F(DiskQuotaTest, StoreStatsForMetricsAreWhatTheLastRefreshRead) {
  EXPECT_EQ(service_->LastStoreStats().outbox_sst_bytes, 0u);
  Fill();
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_EQ(service_->LastStoreStats().outbox_sst_bytes, 0u);
  service_->RefreshDiskUsage();
  const StoreStats s = service_->LastStoreStats();
  EXPECT_GE(s.outbox_sst_bytes, uint64_t{kEvents} * kEventBytes);
  EXPECT_EQ(s.outbox_sst_bytes, store_->Stats().outbox_sst_bytes);
}

// /metrics counts the deliveries written to the WAL only (those an armed
// integration's fresh list holds) until a checkpoint rewrites them.
TEST_F(DiskQuotaTest, MetricsCountLogOnlyDeliveriesUntilACheckpoint) {
  auto gauges = [&] {
    std::string out;
    service_->RenderStoreGauges(&out);
    return out;
  };
  const std::string none = "\noutboxd_store_log_only_pending 0\n";
  // A scan arms integration 1: what is enqueued for it next is log-only.
  ASSERT_TRUE(store_->ScanDue(1, clock_.NowMs(), SIZE_MAX, [](Delivery&&) {}).ok());
  EXPECT_NE(gauges().find(none), std::string::npos) << gauges();
  Fill();
  EXPECT_NE(
      gauges().find(absl::StrCat("\noutboxd_store_log_only_pending ", kEvents, "\n")),
      std::string::npos)
      << gauges();
  ASSERT_TRUE(store_->Checkpoint(OutboxStore::CheckpointScope::kAll).ok());
  EXPECT_NE(gauges().find(none), std::string::npos) << gauges();
  // The counter keeps what was written.
  EXPECT_NE(gauges().find(
                absl::StrCat("\noutboxd_store_log_only_written_total ", kEvents, "\n")),
            std::string::npos)
      << gauges();
  EXPECT_NE(gauges().find("\noutboxd_store_log_only_restored_at_open 0\n"),
            std::string::npos);
}

// /metrics counts the fresh lists dropped with deliveries in them (their
// log-only deliveries then need a checkpoint) and those capped.
TEST_F(DiskQuotaTest, MetricsCountFreshListsDroppedAndCapped) {
  auto gauges = [&] {
    std::string out;
    service_->RenderStoreGauges(&out);
    return out;
  };
  ASSERT_TRUE(store_->ScanDue(1, clock_.NowMs(), SIZE_MAX, [](Delivery&&) {}).ok());
  Fill();
  EXPECT_NE(gauges().find("\noutboxd_store_fresh_lists_dropped_total 0\n"),
            std::string::npos)
      << gauges();
  store_->ResetCursor(1);  // drops the list of kEvents deliveries
  EXPECT_NE(gauges().find("\noutboxd_store_fresh_lists_dropped_total 1\n"),
            std::string::npos)
      << gauges();
  EXPECT_NE(gauges().find("\noutboxd_store_fresh_lists_capped_total 0\n"),
            std::string::npos)
      << gauges();
}

// After a crash, /metrics says how many log-only deliveries the open wrote
// back from the WAL.
TEST_F(DiskQuotaTest, MetricsCountLogOnlyDeliveriesRestoredAtOpen) {
  ASSERT_TRUE(store_->ScanDue(1, clock_.NowMs(), SIZE_MAX, [](Delivery&&) {}).ok());
  Fill();
  // Closed without OutboxStore::Flush (the daemon's clean stop), as by a
  // crash: the deliveries are in the WAL only.
  service_.reset();
  registry_.reset();
  store_.reset();
  SetUp();
  std::string out;
  service_->RenderStoreGauges(&out);
  EXPECT_NE(
      out.find(absl::StrCat("\noutboxd_store_log_only_restored_at_open ", kEvents, "\n")),
      std::string::npos)
      << out;
}

TEST_F(DiskQuotaTest, RefusesAtTheQuotaWhileTheDataIsQueued) {
  EXPECT_TRUE(IngestOne().ok());
  Fill();
  service_->RefreshDiskUsage();
  absl::Status refused = IngestOne();
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("disk quota"), std::string_view::npos);
  // Still queued: a flush does not make the data go away.
  clock_.Advance(ServiceImpl::kQuotaFlushIntervalMs);
  service_->RefreshDiskUsage();
  EXPECT_EQ(IngestOne().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_GE(store_->Stats().live_sst_bytes + store_->Stats().wal_bytes, kQuota);
}

TEST_F(DiskQuotaTest, AcceptsAgainOnceTheOutboxDrained) {
  std::vector<DeliveryKey> keys = Fill();
  Changes delivered = store_->NewChanges();
  for (const DeliveryKey& k : keys) delivered.Remove(k);
  ASSERT_TRUE(store_->Apply(std::move(delivered)).ok());
  // Everything was delivered, but the WAL still holds it all.
  ASSERT_GE(store_->Stats().wal_bytes, kQuota);
  service_->RefreshDiskUsage();
  EXPECT_TRUE(IngestOne().ok()) << "the drained outbox still counts "
                                << store_->Stats().live_sst_bytes + store_->Stats().wal_bytes
                                << " bytes against a quota of " << kQuota;
  EXPECT_LT(store_->Stats().wal_bytes, kQuota);
}

// Queued deliveries flushed to a table file (over the quota), then delivered:
// their removals reach a later file at the next flush, and only a compaction
// frees the space of both. Seen in crash.disk_quota_drain as ingest refused
// for good after the outbox drained.
TEST_F(DiskQuotaTest, AcceptsAgainOnceDeliveriesFlushedBeforeTheyWentAreDelivered) {
  std::vector<DeliveryKey> keys = Fill();
  service_->RefreshDiskUsage();  // flushes: the deliveries are in a table file now
  ASSERT_EQ(IngestOne().code(), absl::StatusCode::kResourceExhausted);
  ASSERT_GE(store_->Stats().live_sst_bytes, kQuota);
  Changes delivered = store_->NewChanges();
  for (const DeliveryKey& k : keys) delivered.Remove(k);
  ASSERT_TRUE(store_->Apply(std::move(delivered)).ok());
  clock_.Advance(ServiceImpl::kQuotaFlushIntervalMs);
  service_->RefreshDiskUsage();
  EXPECT_TRUE(IngestOne().ok()) << "the drained outbox still counts "
                                << store_->Stats().live_sst_bytes + store_->Stats().wal_bytes
                                << " bytes against a quota of " << kQuota;
  EXPECT_LT(store_->Stats().live_sst_bytes, kQuota);
}

}  // namespace
}  // namespace outboxd
