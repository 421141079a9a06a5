// The in-memory due index on its own (no RocksDB).

#include "store/due_index.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace outboxd::store_internal {
namespace {

TEST(DueIndexTest, UnknownIntegrationIsNeverDue) {
  DueIndex index;
  EXPECT_EQ(index.NextDue(5), kNoDue);
  EXPECT_TRUE(index.DueIntegrations(INT64_MAX).empty());
}

TEST(DueIndexTest, SeedAndWritesLowerNextDue) {
  DueIndex index;
  index.Seed(1, 500);
  index.OnWritten(2, OutboxPos{900, 7});
  index.OnWritten(1, OutboxPos{800, 8});  // later than the seed: no change
  EXPECT_EQ(index.NextDue(1), 500);
  EXPECT_EQ(index.NextDue(2), 900);
  std::vector<uint64_t> due = index.DueIntegrations(899);
  EXPECT_EQ(due, std::vector<uint64_t>{1});
  due = index.DueIntegrations(900);
  std::sort(due.begin(), due.end());
  EXPECT_EQ(due, (std::vector<uint64_t>{1, 2}));
}

TEST(DueIndexTest, ReportsEachChangedIntegrationOnce) {
  DueIndex index;
  std::vector<uint64_t> none = index.TakeChanged();
  EXPECT_TRUE(none.empty());
  index.Seed(1, 500);
  index.OnWritten(2, OutboxPos{900, 7});
  index.OnWritten(2, OutboxPos{950, 8});
  std::vector<uint64_t> changed = index.TakeChanged();
  std::sort(changed.begin(), changed.end());
  EXPECT_EQ(changed, (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(index.TakeChanged().empty());
  // Scans, resets and erasures change next_due too.
  auto ticket = index.BeginScan(3);
  index.EndScan(3, ticket, OutboxPos{10, 1}, kNoDue);
  index.EndReset(1, index.BeginReset(1), 700);
  index.Erase(2);
  changed = index.TakeChanged();
  std::sort(changed.begin(), changed.end());
  EXPECT_EQ(changed, (std::vector<uint64_t>{1, 2, 3}));
}

TEST(DueIndexTest, ScanAdvancesCursorAndSetsNextDue) {
  DueIndex index;
  index.Seed(1, 100);
  DueIndex::ScanTicket t = index.BeginScan(1);
  EXPECT_EQ(t.start, kBeginPos);
  // Handed out up to (100, 3); the first key left is due at 400.
  index.EndScan(1, t, OutboxPos{400, 9}, 400);
  EXPECT_EQ(index.NextDue(1), 400);
  EXPECT_EQ(index.BeginScan(1).start, (OutboxPos{400, 9}));
}

TEST(DueIndexTest, ExhaustedScanMeansNothingDue) {
  DueIndex index;
  index.Seed(1, 100);
  DueIndex::ScanTicket t = index.BeginScan(1);
  index.EndScan(1, t, OutboxPos{100, 4}, kNoDue);
  EXPECT_EQ(index.NextDue(1), kNoDue);
  EXPECT_TRUE(index.DueIntegrations(INT64_MAX).empty());
}

TEST(DueIndexTest, WriteBelowCursorRewindsTheNextScanOnce) {
  DueIndex index;
  DueIndex::ScanTicket t = index.BeginScan(1);
  index.EndScan(1, t, OutboxPos{500, 10}, 500);
  index.OnWritten(1, OutboxPos{200, 11});
  index.OnWritten(1, OutboxPos{300, 12});
  EXPECT_EQ(index.NextDue(1), 200);
  t = index.BeginScan(1);
  EXPECT_EQ(t.start, (OutboxPos{200, 11}));
  index.EndScan(1, t, OutboxPos{600, 1}, 600);
  // The rewind was consumed by that scan.
  EXPECT_EQ(index.BeginScan(1).start, (OutboxPos{600, 1}));
}

TEST(DueIndexTest, WriteDuringScanIsKeptForTheNextScan) {
  DueIndex index;
  DueIndex::ScanTicket t = index.BeginScan(1);
  index.OnWritten(1, OutboxPos{50, 20});  // lands while the scan runs
  index.EndScan(1, t, OutboxPos{700, 3}, 700);
  EXPECT_EQ(index.NextDue(1), 50);
  EXPECT_EQ(index.BeginScan(1).start, (OutboxPos{50, 20}));
}

TEST(DueIndexTest, AbortedScanStartsOverFromItsStart) {
  DueIndex index;
  DueIndex::ScanTicket t = index.BeginScan(1);
  index.EndScan(1, t, OutboxPos{300, 1}, 300);
  t = index.BeginScan(1);
  index.AbortScan(1, t);
  EXPECT_EQ(index.BeginScan(1).start, (OutboxPos{300, 1}));
  EXPECT_LE(index.NextDue(1), 300);
}

TEST(DueIndexTest, ResetAppliesLookupOnlyIfUntouched) {
  DueIndex index;
  DueIndex::ScanTicket t = index.BeginScan(1);
  index.EndScan(1, t, OutboxPos{300, 1}, kNoDue);
  uint64_t token = index.BeginReset(1);
  EXPECT_EQ(index.NextDue(1), 0);  // due now until the lookup answers
  index.EndReset(1, token, 150);
  EXPECT_EQ(index.NextDue(1), 150);
  EXPECT_EQ(index.BeginScan(1).start, kBeginPos);

  // A write between BeginReset and EndReset: the (older) lookup is ignored.
  token = index.BeginReset(1);
  index.OnWritten(1, OutboxPos{90, 2});
  index.EndReset(1, token, kNoDue);
  EXPECT_EQ(index.NextDue(1), 0);
}

TEST(DueIndexTest, ScanThatStartedBeforeResetDoesNotMoveTheCursor) {
  DueIndex index;
  DueIndex::ScanTicket t = index.BeginScan(1);
  const uint64_t token = index.BeginReset(1);
  index.EndScan(1, t, OutboxPos{900, 9}, 900);
  index.EndReset(1, token, 100);  // touched by the scan: ignored
  EXPECT_EQ(index.BeginScan(1).start, kBeginPos);
  EXPECT_EQ(index.NextDue(1), 0);
}

TEST(DueIndexTest, OldestHintIsLoweredByWritesAndRaisedOnlyIfUntouched) {
  DueIndex index;
  DueIndex::OldestHint h = index.GetOldestHint(1);
  EXPECT_TRUE(h.pos == kBeginPos);
  index.OnWritten(1, OutboxPos{500, 3});
  h = index.GetOldestHint(1);
  EXPECT_TRUE(h.pos == kBeginPos);  // never raised yet
  index.RaiseOldestHint(1, h.token, OutboxPos{500, 3});
  EXPECT_TRUE(index.GetOldestHint(1).pos == (OutboxPos{500, 3}));

  // A write between reading the hint and raising it may not have been seen
  // by the caller's seek: the raise is refused.
  h = index.GetOldestHint(1);
  index.OnWritten(1, OutboxPos{400, 9});
  index.RaiseOldestHint(1, h.token, OutboxPos{600, 1});
  EXPECT_TRUE(index.GetOldestHint(1).pos == (OutboxPos{400, 9}));

  // A raise never lowers; a later write does.
  h = index.GetOldestHint(1);
  index.RaiseOldestHint(1, h.token, OutboxPos{100, 1});
  EXPECT_TRUE(index.GetOldestHint(1).pos == (OutboxPos{400, 9}));
  h = index.GetOldestHint(1);
  index.RaiseOldestHint(1, h.token, kInfinitePos);  // found nothing
  EXPECT_TRUE(index.GetOldestHint(1).pos == kInfinitePos);
  index.OnWritten(1, OutboxPos{700, 12});
  EXPECT_TRUE(index.GetOldestHint(1).pos == (OutboxPos{700, 12}));

  // Erase starts over; a token from before it is refused afterwards.
  h = index.GetOldestHint(1);
  index.Erase(1);
  index.OnWritten(1, OutboxPos{900, 10});
  index.RaiseOldestHint(1, h.token, OutboxPos{950, 11});
  EXPECT_TRUE(index.GetOldestHint(1).pos == kBeginPos);
}

TEST(DueIndexTest, EraseForgetsAndLateScanEndIsIgnored) {
  DueIndex index;
  index.Seed(1, 10);
  DueIndex::ScanTicket t = index.BeginScan(1);
  index.Erase(1);
  index.EndScan(1, t, OutboxPos{20, 1}, 20);
  EXPECT_EQ(index.NextDue(1), kNoDue);
  EXPECT_EQ(index.size(), 0u);
  // Re-created by a write, the stale ticket's epoch no longer matches.
  index.OnWritten(1, OutboxPos{30, 2});
  index.EndScan(1, t, OutboxPos{40, 1}, kNoDue);
  EXPECT_EQ(index.NextDue(1), 30);
  EXPECT_EQ(index.BeginScan(1).start, kBeginPos);
}

TEST(DueIndexTest, ConcurrentWritersAndScanner) {
  DueIndex index;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (uint64_t w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (uint64_t i = 0; i < 2000; ++i)
        index.OnWritten(w % 2, OutboxPos{1000, w * 10000 + i});
    });
  }
  std::thread scanner([&] {
    while (!stop.load()) {
      for (uint64_t id : index.DueIntegrations(INT64_MAX)) {
        DueIndex::ScanTicket t = index.BeginScan(id);
        index.EndScan(id, t, OutboxPos{2000, 0}, kNoDue);
      }
    }
  });
  for (auto& t : writers) t.join();
  stop = true;
  scanner.join();
  // Quiet now: a scan clears, a later write shows and rewinds, a scan clears.
  for (uint64_t id : {0, 1}) {
    DueIndex::ScanTicket t = index.BeginScan(id);
    index.EndScan(id, t, OutboxPos{2000, 0}, kNoDue);
    EXPECT_EQ(index.NextDue(id), kNoDue);
    index.OnWritten(id, OutboxPos{1000, 999999});
    EXPECT_EQ(index.NextDue(id), 1000);
    t = index.BeginScan(id);
    EXPECT_EQ(t.start, (OutboxPos{1000, 999999}));
    index.EndScan(id, t, OutboxPos{2000, 0}, kNoDue);
    EXPECT_EQ(index.NextDue(id), kNoDue);
  }
}

// Fresh deliveries: a fake allocator position decides which seqs belong to
// the list.
class FreshIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    index_.EnableFresh(1000, [this] { return next_seq_.load(); });
  }
  static Delivery At(TimeMs due, uint64_t seq, size_t bytes = 10) {
    Delivery d;
    d.key = {1, due, seq};
    d.event = std::string(bytes, 'e');
    return d;
  }
  void Write(std::vector<Delivery> ds) {
    OutboxPos min = kInfinitePos;
    for (const Delivery& d : ds) min = std::min(min, OutboxPos{d.key.due_ms, d.key.seq});
    index_.OnWritten(1, min, &ds);
  }
  std::vector<uint64_t> Take(TimeMs now, size_t max = 100) {
    std::vector<Delivery> out;
    index_.TakeFresh(1, now, max, &out);
    std::vector<uint64_t> seqs;
    for (const Delivery& d : out) seqs.push_back(d.key.seq);
    return seqs;
  }
  std::atomic<uint64_t> next_seq_{100};
  DueIndex index_;
};

TEST_F(FreshIndexTest, SeqsFromTheArmingPointOnAreListedNotScanned) {
  index_.Seed(1, 50);  // queued before: RocksDB part, armed at seq 100
  EXPECT_TRUE(index_.armed(1));
  DueIndex::ScanTicket t = index_.BeginScan(1, 60);
  EXPECT_TRUE(t.scan_rocks);
  EXPECT_EQ(t.fresh.from, 100u);
  index_.EndScan(1, t, OutboxPos{70, 0}, kNoDue);  // drained
  Write({At(80, 101), At(80, 100), At(90, 102)});
  EXPECT_GT(index_.fresh_bytes(), 0u);
  EXPECT_EQ(index_.NextDue(1), 80);
  EXPECT_FALSE(index_.BeginScan(1, 85).scan_rocks);        // nothing due in RocksDB
  EXPECT_EQ(Take(85), (std::vector<uint64_t>{100, 101}));  // key order, due only
  EXPECT_EQ(index_.NextDue(1), 90);
  EXPECT_EQ(Take(90), (std::vector<uint64_t>{102}));
  EXPECT_EQ(index_.NextDue(1), kNoDue);
  EXPECT_EQ(index_.fresh_bytes(), 0u);
}

TEST_F(FreshIndexTest, ASeqDrawnBeforeArmingRewindsTheRocksDbPart) {
  EXPECT_FALSE(index_.BeginScan(1, 0).scan_rocks);  // armed at 100, nothing queued
  index_.EndScan(1, index_.BeginScan(1), OutboxPos{50, 0}, kNoDue);  // cursor past 40
  Write({At(40, 99), At(40, 100)});
  EXPECT_EQ(Take(40), (std::vector<uint64_t>{100}));
  DueIndex::ScanTicket t = index_.BeginScan(1, 40);
  EXPECT_TRUE(t.scan_rocks);
  EXPECT_EQ(t.start, (OutboxPos{40, 99}));
}

TEST_F(FreshIndexTest, OverTheCapTheListGoesBackToRocksDbUntilADrainedScan) {
  index_.EndScan(1, index_.BeginScan(1), OutboxPos{50, 0}, kNoDue);  // cursor past 10
  Write({At(10, 100, 10), At(20, 101, 10)});
  DueIndex::ScanTicket t = index_.BeginScan(1, 5);
  EXPECT_FALSE(t.scan_rocks);
  Write({At(30, 102, 900)});  // past 1,000 bytes
  EXPECT_FALSE(index_.armed(1));
  EXPECT_EQ(index_.fresh_bytes(), 0u);
  EXPECT_TRUE(Take(INT64_MAX).empty());
  EXPECT_EQ(index_.NextDue(1), 10);
  next_seq_ = 200;
  t = index_.BeginScan(1, 100);
  EXPECT_TRUE(t.scan_rocks);
  EXPECT_EQ(t.start, (OutboxPos{10, 100}));  // the first listed key
  EXPECT_EQ(t.fresh.from, DueIndex::kNotArmed);
  index_.EndScan(1, t, OutboxPos{30, 103}, /*first_unscanned_due=*/40);
  EXPECT_FALSE(index_.armed(1));  // stopped at its item limit: stays with RocksDB
  t = index_.BeginScan(1, 100);
  index_.EndScan(1, t, OutboxPos{70, 0}, /*first_unscanned_due=*/500, /*drained=*/true);
  EXPECT_TRUE(index_.armed(1));  // a retry due later does not keep it off
  Write({At(60, 150), At(60, 200)});  // 150 was drawn before the new arming
  EXPECT_EQ(Take(100), (std::vector<uint64_t>{200}));
  EXPECT_EQ(index_.BeginScan(1, 100).start, (OutboxPos{60, 150}));
}

TEST_F(FreshIndexTest, PastHalfTheCapTheListIsCappedTakenFirstAndArmedAgainOnceEmpty) {
  index_.EndScan(1, index_.BeginScan(1), OutboxPos{50, 0}, kNoDue);  // cursor past 20
  // 100..102 drawn and written: past half of the 1,000 bytes.
  next_seq_ = 103;
  Write({At(10, 100, 150), At(10, 101, 150), At(10, 102, 150)});
  EXPECT_TRUE(index_.capped(1));
  EXPECT_EQ(index_.fresh_counts().capped, 1u);
  const DueIndex::FreshRange range = index_.Fresh(1);
  EXPECT_EQ(range.from, 100u);
  EXPECT_EQ(range.to, 103u);
  EXPECT_FALSE(range.Contains(103));
  // 103, drawn after the cap, is not listed: the RocksDB part has it.
  Write({At(20, 103)});
  EXPECT_EQ(index_.NextDue(1), 10);
  // The list goes first, and fills the scan: RocksDB is left untouched.
  std::vector<Delivery> out;
  DueIndex::ScanTicket t = index_.BeginScan(1, 30, 2, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].key.seq, 101u);
  EXPECT_FALSE(t.scan_rocks);
  EXPECT_TRUE(t.fresh.capped());
  // Emptied: armed again at the allocator's position, and the RocksDB
  // scan, from 103's write, steps over no seq below it.
  out.clear();
  next_seq_ = 110;
  t = index_.BeginScan(1, 30, 10, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key.seq, 102u);
  EXPECT_TRUE(t.scan_rocks);
  EXPECT_FALSE(t.fresh.capped());
  EXPECT_EQ(t.fresh.from, 110u);
  EXPECT_EQ(t.start, (OutboxPos{20, 103}));
  EXPECT_FALSE(t.fresh.Contains(103));
  EXPECT_TRUE(t.fresh.Contains(110));
  index_.EndScan(1, t, OutboxPos{20, 104}, kNoDue);
  EXPECT_FALSE(index_.capped(1));
  EXPECT_EQ(index_.fresh_counts().dropped, 0u);
  Write({At(40, 110)});
  EXPECT_EQ(Take(40), (std::vector<uint64_t>{110}));
}

TEST_F(FreshIndexTest, ACappedListThatNobodyTakesFromStaysCapped) {
  index_.EndScan(1, index_.BeginScan(1), OutboxPos{5, 0}, kNoDue);
  next_seq_ = 101;
  Write({At(10, 100, 600)});
  ASSERT_TRUE(index_.capped(1));
  next_seq_ = 102;
  Write({At(10, 101, 600)});  // a Put: the list does not grow
  EXPECT_TRUE(index_.capped(1));
  EXPECT_LT(index_.fresh_bytes(), 1000u);
  // A scan with nothing due leaves it as it is.
  std::vector<Delivery> out;
  EXPECT_FALSE(index_.BeginScan(1, 5, 10, &out).scan_rocks);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(index_.capped(1));
}

TEST_F(FreshIndexTest, ResetAndFailedWritesDisarm) {
  index_.BeginScan(1, 0);
  Write({At(10, 100)});
  index_.EndReset(1, index_.BeginReset(1), 10);
  EXPECT_FALSE(index_.armed(1));
  EXPECT_EQ(index_.fresh_bytes(), 0u);
  EXPECT_EQ(index_.BeginScan(1, 10).start, kBeginPos);

  index_.BeginScan(2, 0);
  EXPECT_TRUE(index_.armed(2));
  index_.OnWriteFailed(2, OutboxPos{5, 300});
  EXPECT_FALSE(index_.armed(2));
  EXPECT_EQ(index_.NextDue(2), 5);
}

}  // namespace
}  // namespace outboxd::store_internal
