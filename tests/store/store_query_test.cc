// Stats buckets, request counts, integration records, meta, sizes, flush and
// failure to open a damaged store.

#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "outboxd/store.h"
#include "store_test_util.h"

namespace outboxd {
namespace {

using store_test::OpenOrDie;
using store_test::ScratchDir;
using store_test::TestOptions;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// (integration, minute, requests, failures)
using Bucket = std::tuple<uint64_t, int64_t, uint64_t, uint64_t>;

std::vector<Bucket> Buckets(OutboxStore& store, int64_t since) {
  std::vector<Bucket> out;
  EXPECT_TRUE(store
                  .ForEachStatsBucket(since,
                                      [&](const StatsBucket& b) {
                                        out.emplace_back(b.integration_id, b.minute,
                                                         b.requests, b.failures);
                                      })
                  .ok());
  return out;
}

using StoreQueryTest = store_test::StoreFixture;

TEST_F(StoreQueryTest, StatsMergeAcrossBatchesAndSurviveReopen) {
  ASSERT_TRUE(ApplyOne([](Changes& c) {
                c.AddStats(2, 1000, 3, 1);
                c.AddStats(2, 1000, 1, 1);  // same bucket, same batch
                c.AddStats(2, 1001, 4, 0);
                c.AddStats(1, 999, 7, 7);
              }).ok());
  ASSERT_TRUE(ApplyOne([](Changes& c) { c.AddStats(2, 1000, 10, 0); }).ok());
  Reopen();
  EXPECT_THAT(
      Buckets(*store_, 0),
      ElementsAre(Bucket{1, 999, 7, 7}, Bucket{2, 1000, 14, 2}, Bucket{2, 1001, 4, 0}));
  EXPECT_THAT(Buckets(*store_, 1000),
              ElementsAre(Bucket{2, 1000, 14, 2}, Bucket{2, 1001, 4, 0}));
  EXPECT_THAT(Buckets(*store_, 1002), IsEmpty());
}

TEST_F(StoreQueryTest, TrimStatsDeletesOlderBucketsOfEveryIntegration) {
  ASSERT_TRUE(ApplyOne([](Changes& c) {
                for (uint64_t id : {1, 2, 3}) {
                  for (int64_t m = 100; m < 110; ++m) c.AddStats(id, m, 1, 0);
                }
                c.AddStats(4, 200, 1, 1);
                c.AddStats(UINT64_MAX, 50, 2, 2);
              }).ok());
  ASSERT_TRUE(store_->TrimStats(108).ok());
  EXPECT_THAT(Buckets(*store_, 0), ElementsAre(Bucket{1, 108, 1, 0}, Bucket{1, 109, 1, 0},
                                               Bucket{2, 108, 1, 0}, Bucket{2, 109, 1, 0},
                                               Bucket{3, 108, 1, 0}, Bucket{3, 109, 1, 0},
                                               Bucket{4, 200, 1, 1}));
  // Merging into a trimmed bucket starts from zero.
  ASSERT_TRUE(ApplyOne([](Changes& c) { c.AddStats(1, 100, 5, 5); }).ok());
  EXPECT_EQ(Buckets(*store_, 0).front(), (Bucket{1, 100, 5, 5}));
  EXPECT_TRUE(store_->TrimStats(0).ok());
}

TEST_F(StoreQueryTest, RequestCountsPerCompanyAndHour) {
  ASSERT_TRUE(ApplyOne([](Changes& c) {
                c.AddRequestCount(10, 470000, 5);
                c.AddRequestCount(10, 470001, 6);
                c.AddRequestCount(11, 470000, 1);
                c.AddRequestCount(12, 469999, 9);
              }).ok());
  ASSERT_TRUE(ApplyOne([](Changes& c) { c.AddRequestCount(10, 470000, 100); }).ok());
  std::vector<std::pair<uint64_t, uint64_t>> got;
  ASSERT_TRUE(
      store_
          ->ForEachRequestCount(
              470000, [&](uint64_t company, uint64_t n) { got.emplace_back(company, n); })
          .ok());
  EXPECT_THAT(got, ElementsAre(std::pair<uint64_t, uint64_t>(10, 105),
                               std::pair<uint64_t, uint64_t>(11, 1)));
  got.clear();
  ASSERT_TRUE(
      store_
          ->ForEachRequestCount(
              470002, [&](uint64_t company, uint64_t n) { got.emplace_back(company, n); })
          .ok());
  EXPECT_THAT(got, IsEmpty());
}

TEST_F(StoreQueryTest, IntegrationRecords) {
  EXPECT_FALSE(store_->GetIntegration(1).value().has_value());
  ASSERT_TRUE(ApplyOne([](Changes& c) {
                c.PutIntegration(2, "two");
                c.PutIntegration(1, std::string("o\0ne", 4));
              }).ok());
  ASSERT_TRUE(ApplyOne([](Changes& c) { c.PutIntegration(2, "two v2"); }).ok());
  Reopen();
  EXPECT_EQ(store_->GetIntegration(2).value(), "two v2");
  std::vector<std::pair<uint64_t, std::string>> all;
  ASSERT_TRUE(store_
                  ->ForEachIntegration([&](uint64_t id, std::string_view r) {
                    all.emplace_back(id, std::string(r));
                  })
                  .ok());
  EXPECT_THAT(all,
              ElementsAre(std::pair<uint64_t, std::string>(1, std::string("o\0ne", 4)),
                          std::pair<uint64_t, std::string>(2, "two v2")));
}

TEST_F(StoreQueryTest, MetaIsAtomicWithTheBatch) {
  EXPECT_FALSE(store_->GetMeta("hourly_report").value().has_value());
  ASSERT_TRUE(ApplyOne([](Changes& c) {
                c.PutMeta("hourly_report", "470000");
                c.Enqueue(1, "requests_per_hour", "{}", 0, 0);
              }).ok());
  Reopen();
  EXPECT_EQ(store_->GetMeta("hourly_report").value(), "470000");
  EXPECT_EQ(store_->QueuedCount(1), 1u);
}

TEST_F(StoreQueryTest, SizesAndFlush) {
  ASSERT_TRUE(ApplyOne([](Changes& c) {
                for (int i = 0; i < 100; ++i)
                  c.Enqueue(1, "t", std::string(500, 'e'), 0, 0);
              }).ok());
  StoreStats before = store_->Stats();
  EXPECT_GT(before.memtable_bytes, 50'000u);
  EXPECT_GT(before.wal_bytes, 50'000u);
  ASSERT_TRUE(store_->Flush().ok());
  StoreStats after = store_->Stats();
  EXPECT_GT(after.live_sst_bytes, 0u);
  EXPECT_EQ(store_test::ScanEverything(*store_, 1).size(), 100u);
}

// outbox_sst_bytes counts the outbox's table files and nothing else: the
// meta column family (queued counts) is flushed too, and a drained outbox,
// once compacted, has no table file left.
TEST_F(StoreQueryTest, OutboxTableBytesFollowTheOutboxAlone) {
  StoreStats fresh = store_->Stats();
  EXPECT_EQ(fresh.outbox_sst_bytes, 0u);
  EXPECT_FALSE(fresh.write_stopped);
  EXPECT_EQ(fresh.delayed_write_rate, 0u);

  std::vector<DeliveryKey> keys;
  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                for (int i = 0; i < 100; ++i)
                  keys.push_back(c.Enqueue(1, "t", std::string(500, 'e'), 0, 0));
              }).ok());
  ASSERT_TRUE(store_->Flush().ok());
  StoreStats queued = store_->Stats();
  EXPECT_GT(queued.outbox_sst_bytes, 0u);
  EXPECT_GT(queued.live_sst_bytes, queued.outbox_sst_bytes);  // meta's file too

  ASSERT_TRUE(ApplyOne([&](Changes& c) {
                for (const DeliveryKey& k : keys) c.Remove(k);
              }).ok());
  ASSERT_TRUE(store_->Flush().ok());
  ASSERT_TRUE(store_->CompactOutbox().ok());
  StoreStats drained = store_->Stats();
  EXPECT_EQ(drained.outbox_sst_bytes, 0u);
  EXPECT_GT(drained.live_sst_bytes, 0u);
}

TEST(StoreOpenTest, EmptyPathIsRejected) {
  StoreOptions options;
  EXPECT_EQ(OutboxStore::Open(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StoreOpenTest, CorruptTableFailsOpenLoudly) {
  ScratchDir dir;
  {
    auto store = OpenOrDie(TestOptions(dir.path()));
    Changes c = store->NewChanges();
    for (int i = 0; i < 200; ++i) c.Enqueue(1, "t", std::string(100, 'a' + i % 26), i, 0);
    ASSERT_TRUE(store->Apply(std::move(c)).ok());
    ASSERT_TRUE(store->Flush().ok());
  }
  // Overwrite the middle of every table file: data blocks fail their checksum.
  int damaged = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (entry.path().extension() != ".sst") continue;
    const auto size = std::filesystem::file_size(entry.path());
    std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 4));
    const std::string junk(64, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    ++damaged;
  }
  ASSERT_GT(damaged, 0);
  absl::StatusOr<std::unique_ptr<OutboxStore>> store =
      OutboxStore::Open(TestOptions(dir.path()));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
  EXPECT_THAT(std::string(store.status().message()), ::testing::HasSubstr("orrupt"));
}

}  // namespace
}  // namespace outboxd
