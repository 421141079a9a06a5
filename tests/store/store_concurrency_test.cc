// Concurrent Apply from 8 threads (RocksDB group commit) while a scanner
// hands out and removes deliveries: nothing is lost and, since every handed
// out delivery is removed before the next scan, nothing comes twice. Each
// test runs with every scan reading RocksDB, with fresh deliveries served
// from memory, and with a fresh-list cap so small that integrations are
// disarmed and armed again all the time.

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"
#include "outboxd/store.h"
#include "store_test_util.h"

namespace outboxd {
namespace {

using store_test::OpenOrDie;
using store_test::ScratchDir;
using store_test::TestOptions;

constexpr int kWriters = 8;
constexpr int kBatchesPerWriter = 40;
constexpr int kPerBatch = 25;
constexpr uint64_t kIntegrations = 3;
constexpr TimeMs kNow = 1'000'000;

uint64_t Packed(const DeliveryKey& k) { return k.seq; }  // seqs are unique store-wide

class StoreConcurrencyTest : public ::testing::TestWithParam<uint64_t> {
 protected:
  StoreOptions Options(bool sync) {
    return TestOptions(dir_.path(), sync, /*fresh_cache_bytes=*/GetParam());
  }
  ScratchDir dir_;
};

TEST_P(StoreConcurrencyTest, GroupCommitWithConcurrentScannerLosesAndDuplicatesNothing) {
  auto store = OpenOrDie(Options(/*sync=*/true));
  ASSERT_NE(store, nullptr);
  std::atomic<uint64_t> listener_calls{0};
  store->SetDueListener([&](uint64_t, TimeMs) { listener_calls.fetch_add(1); });

  std::vector<std::vector<uint64_t>> acked(kWriters);
  std::atomic<int> writers_left{kWriters};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937_64 rng(w);
      for (int b = 0; b < kBatchesPerWriter; ++b) {
        Changes c = store->NewChanges();
        std::vector<uint64_t> seqs;
        for (int i = 0; i < kPerBatch; ++i) {
          // Random due times in the past: many writes land below a cursor.
          const TimeMs due = static_cast<TimeMs>(rng() % kNow);
          seqs.push_back(Packed(c.Enqueue(rng() % kIntegrations, "t", "event", due, 0)));
        }
        ASSERT_TRUE(store->Apply(std::move(c)).ok());
        acked[w].insert(acked[w].end(), seqs.begin(), seqs.end());
      }
      writers_left.fetch_sub(1);
    });
  }

  // The scanner: hands out, removes (synchronously), and records.
  absl::flat_hash_set<uint64_t> seen;
  uint64_t duplicates = 0;
  auto scan_round = [&] {
    bool any = false;
    for (uint64_t id : store->DueIntegrations(kNow)) {
      std::vector<DeliveryKey> got;
      auto n = store->ScanDue(id, kNow, 64, [&](Delivery&& d) { got.push_back(d.key); });
      if (!n.ok()) {
        ADD_FAILURE() << n.status();
        return false;
      }
      Changes c = store->NewChanges();
      for (const DeliveryKey& k : got) {
        if (!seen.insert(Packed(k)).second) ++duplicates;
        c.Remove(k);
      }
      EXPECT_TRUE(store->Apply(std::move(c)).ok());
      any = any || !got.empty();
    }
    return any;
  };
  std::thread scanner([&] {
    while (writers_left.load() > 0) scan_round();
    // Drain: after the last write, a bounded number of rounds empties it.
    for (int round = 0; round < 10000 && scan_round(); ++round) {
    }
  });
  for (auto& t : writers) t.join();
  scanner.join();

  size_t total = 0;
  for (const auto& a : acked) {
    total += a.size();
    for (uint64_t seq : a) EXPECT_TRUE(seen.contains(seq)) << "lost seq " << seq;
  }
  EXPECT_EQ(total, size_t{kWriters * kBatchesPerWriter * kPerBatch});
  EXPECT_EQ(seen.size(), total);
  EXPECT_EQ(duplicates, 0u);
  for (uint64_t id = 0; id < kIntegrations; ++id) {
    EXPECT_EQ(store->QueuedCount(id), 0u) << id;
    EXPECT_EQ(store->NextDue(id), kNoDue) << id;
  }
  EXPECT_GE(listener_calls.load(), uint64_t{kWriters * kBatchesPerWriter});
}

// Scanner holds what it got (no removal): rewinds may repeat deliveries,
// but every one is handed out, and a reset scan finds them all.
TEST_P(StoreConcurrencyTest, HoldingScannerSeesEverything) {
  auto store = OpenOrDie(Options(/*sync=*/false));
  ASSERT_NE(store, nullptr);
  std::atomic<bool> done{false};
  std::vector<uint64_t> written;
  std::thread writer([&] {
    std::mt19937_64 rng(7);
    for (int b = 0; b < 200; ++b) {
      Changes c = store->NewChanges();
      for (int i = 0; i < 10; ++i) {
        written.push_back(
            c.Enqueue(1, "t", "e", static_cast<TimeMs>(rng() % kNow), 0).seq);
      }
      ASSERT_TRUE(store->Apply(std::move(c)).ok());
    }
    done.store(true);
  });
  absl::flat_hash_set<uint64_t> seen;
  auto scan = [&] {
    auto n = store->ScanDue(1, kNow, 50, [&](Delivery&& d) { seen.insert(d.key.seq); });
    ASSERT_TRUE(n.ok());
  };
  while (!done.load()) scan();
  writer.join();
  // 2,000 deliveries, 50 per scan: a correct cursor needs ~40 more scans.
  for (int round = 0; round < 1000 && store->NextDue(1) <= kNow; ++round) scan();
  EXPECT_EQ(seen.size(), written.size());
  for (uint64_t seq : written) EXPECT_TRUE(seen.contains(seq));
  EXPECT_EQ(store_test::ScanEverything(*store, 1).size(), written.size());
}

INSTANTIATE_TEST_SUITE_P(FreshCap, StoreConcurrencyTest,
                         ::testing::Values(uint64_t{0}, uint64_t{4096},
                                           uint64_t{1} << 20),
                         [](const ::testing::TestParamInfo<uint64_t>& info) {
                           return info.param == 0 ? std::string("RocksOnly")
                                                  : "Fresh" + std::to_string(info.param);
                         });

}  // namespace
}  // namespace outboxd
