#include "dispatch/batcher.h"

#include <gtest/gtest.h>

#include "dispatch/answer_plan.h"

namespace outboxd {
namespace {

BatchLimits Limits(uint64_t max_body_bytes, uint32_t max_records, TimeMs linger_ms) {
  BatchLimits l;
  l.max_body_bytes = max_body_bytes;
  l.max_records = max_records;
  l.linger_ms = linger_ms;
  return l;
}

Delivery D(uint64_t seq, TimeMs due, std::string log_type = "t", size_t bytes = 10) {
  Delivery d;
  d.key = {1, due, seq};
  d.log_type = std::move(log_type);
  d.event = std::string(bytes, 'x');
  return d;
}

std::vector<uint64_t> Seqs(const std::vector<Delivery>& ds) {
  std::vector<uint64_t> out;
  for (auto& d : ds) out.push_back(d.key.seq);
  return out;
}

TEST(BatcherTest, BodyBytesCountBracketsAndCommas) {
  EXPECT_EQ(ArrayBodyBytes(0, 0), 2u);
  EXPECT_EQ(ArrayBodyBytes(10, 1), 12u);
  EXPECT_EQ(ArrayBodyBytes(30, 3), 34u);
}

TEST(BatcherTest, FullBatchIsReadyAtOncePartialAfterLinger) {
  Batcher b(Limits(1000, 3, 5));
  std::vector<Delivery> oversized;
  for (uint64_t i = 0; i < 4; ++i) b.Add(D(i, 100));
  EXPECT_EQ(Seqs(b.Next(100, false, &oversized)), (std::vector<uint64_t>{0, 1, 2}));
  EXPECT_TRUE(b.Next(104, false, &oversized).empty());
  EXPECT_EQ(b.ReadyAt(), 105);
  EXPECT_EQ(Seqs(b.Next(105, false, &oversized)), (std::vector<uint64_t>{3}));
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.ReadyAt(), kNoDue);
}

TEST(BatcherTest, ByteLimitIncludesTheArraySyntax) {
  // 3 records of 10 bytes need 34 bytes; 33 fits only two.
  Batcher b(Limits(33, 100, 0));
  std::vector<Delivery> oversized;
  for (uint64_t i = 0; i < 3; ++i) b.Add(D(i, 0));
  EXPECT_EQ(b.Next(0, false, &oversized).size(), 2u);
  EXPECT_EQ(b.Next(0, false, &oversized).size(), 1u);
  EXPECT_TRUE(oversized.empty());
}

TEST(BatcherTest, OversizedRecordComesBackAlone) {
  Batcher b(Limits(20, 100, 0));
  std::vector<Delivery> oversized;
  b.Add(D(1, 0, "t", 50));
  b.Add(D(2, 0, "t", 5));
  EXPECT_EQ(Seqs(b.Next(0, false, &oversized)), (std::vector<uint64_t>{2}));
  EXPECT_EQ(Seqs(oversized), (std::vector<uint64_t>{1}));
  EXPECT_EQ(b.bytes(), 0u);
}

TEST(BatcherTest, SeparatesLogTypesAndPutsBisectedHalvesFirst) {
  Batcher b(Limits(1000, 100, 0));
  std::vector<Delivery> oversized;
  b.Add(D(1, 0, "a"));
  b.Add(D(2, 0, "b"));
  b.AddFront({D(9, 0, "a")});
  EXPECT_EQ(Seqs(b.Next(0, false, &oversized)), (std::vector<uint64_t>{9}));
  auto first = b.Next(0, false, &oversized);
  auto second = b.Next(0, false, &oversized);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(first[0].log_type, second[0].log_type);
  EXPECT_EQ(b.size(), 0u);
}

Delivery Timed(uint64_t seq, const std::string& time) {
  Delivery d = D(seq, 0);
  d.event = time.empty() ? R"({"x":1})" : R"({"at":")" + time + R"("})";
  return d;
}

TEST(BatcherTest, CutsABatchWhereItsTimeSpanWouldPassTheLimit) {
  Batcher b({.max_body_bytes = 1000, .max_records = 100, .linger_ms = 1000,
             .max_time_span_ms = 30 * kMinuteMs, .time_field = "at"});
  std::vector<Delivery> oversized;
  b.Add(Timed(1, "2026-11-28T10:00:00Z"));
  b.Add(Timed(2, "2026-11-28T10:30:00Z"));  // exactly 30 min: fits
  b.Add(Timed(3, ""));                      // no time: fits anywhere
  b.Add(Timed(4, "2026-11-28T09:59:59.999Z"));
  b.Add(Timed(5, "2026-11-28T10:10:00Z"));
  // A batch cut by its span is full: it goes before the linger.
  EXPECT_EQ(Seqs(b.Next(0, false, &oversized)), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_TRUE(b.Next(0, false, &oversized).empty()) << "the rest lingers";
  EXPECT_EQ(Seqs(b.Next(0, true, &oversized)), (std::vector<uint64_t>{4, 5}));
  EXPECT_TRUE(oversized.empty());
}

TEST(BatcherTest, NoTimeSpanLimitMeansTimesAreNotRead) {
  Batcher b(Limits(1000, 100, 0));
  std::vector<Delivery> oversized;
  b.Add(Timed(1, "2020-01-01T00:00:00Z"));
  b.Add(Timed(2, "2026-01-01T00:00:00Z"));
  EXPECT_EQ(b.Next(0, false, &oversized).size(), 2u);
}

TEST(BatcherTest, EffectiveLimitsTakeTheDestinationsTimeSpan) {
  DestinationLimits dest;
  dest.max_time_span_ms = 30 * kMinuteMs;
  dest.time_field = "occurred_at";
  BatchLimits out = EffectiveLimits(dest, BatchLimits{});
  EXPECT_EQ(out.max_time_span_ms, 30 * kMinuteMs);
  EXPECT_EQ(out.time_field, "occurred_at");
}

// Add tries the last log type's queue first: runs of one type, switches
// between types, and a type whose emptied queue was dropped (by Next or
// Drain) must each land in their own queue.
TEST(BatcherTest, InterleavedLogTypesKeepTheirOwnBatches) {
  Batcher b(Limits(1000, 100, 0));
  std::vector<Delivery> oversized;
  for (uint64_t seq : {1, 2, 3}) b.Add(D(seq, 0, "a"));
  b.Add(D(4, 0, "b"));
  b.Add(D(5, 0, "a"));
  b.Add(D(6, 0, "b"));
  EXPECT_EQ(Seqs(b.Next(0, false, &oversized)), (std::vector<uint64_t>{1, 2, 3, 5}));
  EXPECT_EQ(Seqs(b.Next(0, false, &oversized)), (std::vector<uint64_t>{4, 6}));
  // Both queues are empty now; the next Next drops them.
  EXPECT_TRUE(b.Next(0, false, &oversized).empty());
  b.Add(D(7, 0, "b"));
  b.Add(D(8, 0, "b"));
  EXPECT_EQ(Seqs(b.Next(0, false, &oversized)), (std::vector<uint64_t>{7, 8}));
  b.Add(D(9, 0, "a"));
  EXPECT_EQ(b.Drain().size(), 1u);
  b.Add(D(10, 0, "a"));
  b.Add(D(11, 0, "c"));
  b.Add(D(12, 0, "a"));
  EXPECT_EQ(Seqs(b.Next(0, false, &oversized)), (std::vector<uint64_t>{10, 12}));
  EXPECT_EQ(Seqs(b.Next(0, false, &oversized)), (std::vector<uint64_t>{11}));
  EXPECT_TRUE(oversized.empty());
  EXPECT_TRUE(b.empty());
}

TEST(BatcherTest, DrainReturnsEverything) {
  Batcher b(Limits(1000, 100, 1000));
  b.Add(D(1, 0));
  b.AddFront({D(2, 0), D(3, 0)});
  EXPECT_EQ(b.Drain().size(), 3u);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.bytes(), 0u);
}

TEST(AnswerPlanTest, RetryUsesEachDeliverysOwnAttemptCount) {
  std::vector<Delivery> ds = {D(1, 0), D(2, 0)};
  ds[0].attempts = 0;
  ds[1].attempts = 5;  // its next failure is the 6th: 0 s
  ds[0].first_enqueued_ms = ds[1].first_enqueued_ms = 1000;
  Answer a;
  a.verdict = Verdict::kRetry;
  AnswerPlan plan = PlanAnswer(ds, a, 2000, RetryPolicy{});
  ASSERT_EQ(plan.kind, AnswerPlan::Kind::kRetry);
  ASSERT_EQ(plan.retries.size(), 2u);
  EXPECT_EQ(plan.retries[0].due_ms, 3000);
  EXPECT_EQ(plan.retries[0].attempts, 1u);
  EXPECT_EQ(plan.retries[1].due_ms, 2000);
  EXPECT_EQ(plan.retries[1].attempts, 6u);
  EXPECT_TRUE(plan.failure);
}

TEST(AnswerPlanTest, RejectionBisectsSeveralAndBuriesOne) {
  Answer a;
  a.verdict = Verdict::kRejectRecords;
  a.counts_as_failure = false;
  EXPECT_EQ(PlanAnswer({D(1, 0), D(2, 0)}, a, 0, {}).kind, AnswerPlan::Kind::kBisect);
  AnswerPlan one = PlanAnswer({D(1, 0)}, a, 0, {});
  EXPECT_EQ(one.kind, AnswerPlan::Kind::kDead);
  EXPECT_FALSE(one.failure);
}

}  // namespace
}  // namespace outboxd
