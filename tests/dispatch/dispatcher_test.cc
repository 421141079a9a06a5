// The dispatcher's decisions, with a FakeClock, a real store in a temp dir
// and a ScriptedTransport that completes requests in any order, or never.
#include "dispatch/dispatcher.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dispatch/test_destination.h"
#include "fakes/scripted_transport.h"
#include "fakes/temp_dir.h"
#include "outboxd/log.h"

namespace outboxd {
namespace {

constexpr uint64_t kA = 1;  // the integration under test
constexpr uint64_t kB = 2;  // another integration of the same company

class TestHooks final : public DispatcherHooks {
 public:
  void OnBroken(const IntegrationConfig& integration, TimeMs now, Changes& changes) override {
    broken.push_back(integration.id);
    changes.PutIntegration(integration.id, "state=broken");
    changes.Enqueue(kB, "integration_broken",
                    absl::StrCat(R"({"event_type":"integration_broken","integration":)",
                                 integration.id, "}"),
                    now, now);
  }
  void OnDrained(uint64_t integration_id) override { drained.push_back(integration_id); }
  std::vector<uint64_t> broken;
  std::vector<uint64_t> drained;
};

// Applies inline, or fails every commit while `fail` is set (a store that
// cannot write: disk full, I/O error). While `hold` is set, commits wait
// until CompleteHeld() applies (or fails) them: writes that take a while.
class SwitchableCommitter final : public Committer {
 public:
  explicit SwitchableCommitter(OutboxStore* store) : inline_(store) {}
  void Commit(Changes changes, Done done) override {
    if (hold) {
      held_.emplace_back(std::move(changes), std::move(done));
      return;
    }
    Run(std::move(changes), std::move(done));
  }
  // Completes the oldest `n` held commits, in order. Completions may
  // commit again (held again while `hold` is set).
  void CompleteHeld(size_t n = 1) {
    for (size_t i = 0; i < n && !held_.empty(); ++i) {
      auto [changes, done] = std::move(held_.front());
      held_.pop_front();
      Run(std::move(changes), std::move(done));
    }
  }
  size_t held() const { return held_.size(); }
  bool fail = false;
  bool hold = false;
  int failed = 0;

 private:
  void Run(Changes changes, Done done) {
    if (fail) {
      ++failed;
      done(absl::UnavailableError("injected: no space left on device"));
      return;
    }
    inline_.Commit(std::move(changes), std::move(done));
  }
  InlineCommitter inline_;
  std::deque<std::pair<Changes, Done>> held_;
};

HttpResponse Answer500() { return ScriptedTransport::Status(500); }
HttpResponse Answer200() { return ScriptedTransport::Status(200); }

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.batch.linger_ms = 0;
    OpenStore();
  }
  void TearDown() override {
    SetLogSinkForTest(nullptr);  // also when a test stopped before it did
    Close();
  }

  void OpenStore() {
    StoreOptions o;
    o.path = dir_.path();
    o.sync = false;  // no crash here; durability has its own tests
    auto store = OutboxStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void Start(std::vector<IntegrationConfig> configs = {}) {
    if (configs.empty()) configs = {Config(kA), Config(kB)};
    transport_ = std::make_unique<ScriptedTransport>();
    committer_ = std::make_unique<SwitchableCommitter>(store_.get());
    dispatcher_ = std::make_unique<Dispatcher>(
        store_.get(), transport_.get(), &clock_,
        [this](const IntegrationConfig& c) -> absl::StatusOr<std::unique_ptr<Destination>> {
          return std::make_unique<TestDestination>(IntegrationOfLane(c.id), limits_, pace_);
        },
        &hooks_, committer_.get(), options_);
    ASSERT_TRUE(dispatcher_->Start().ok());
    for (const auto& c : configs) dispatcher_->SetIntegration(c);
  }
  void Close() {
    dispatcher_.reset();
    committer_.reset();
    transport_.reset();
    store_.reset();
  }
  // Simulates a process restart: everything in memory is gone.
  void Restart(std::vector<IntegrationConfig> configs = {}) {
    Close();
    OpenStore();
    Start(std::move(configs));
  }

  static IntegrationConfig Config(uint64_t id,
                                  IntegrationState state = IntegrationState::kEnabled) {
    IntegrationConfig c;
    c.id = id;
    c.company_id = 7;
    c.state = state;
    c.version = 1;
    return c;
  }
  void Enqueue(uint64_t id, int n, const std::string& log_type = "new_hits",
               const std::string& extra = "") {
    Changes c = store_->NewChanges();
    for (int i = 0; i < n; ++i) {
      c.Enqueue(id, log_type,
                absl::StrCat(R"({"id":"e)", next_event_++, R"(","event_type":"hit")", extra,
                             "}"),
                clock_.NowMs(), clock_.NowMs());
    }
    ASSERT_TRUE(store_->Apply(std::move(c)).ok());
  }
  // Moves the clock to the next wake-up and pumps. Returns requests sent.
  size_t AdvanceAndPump() {
    size_t before = transport_->sent().size();
    TimeMs wake = dispatcher_->NextWakeMs();
    if (wake != kNoDue && wake > clock_.NowMs()) clock_.Set(wake);
    dispatcher_->Pump();
    return transport_->sent().size() - before;
  }
  // Starts with one record per request, enqueues `queued` (integration,
  // records) and sends it all, holding commits from then on. Returns the
  // requests sent.
  size_t SendWithCommitsHeld(const std::vector<std::pair<uint64_t, int>>& queued) {
    options_.batch.max_records = 1;
    Start();
    for (const auto& [id, n] : queued) Enqueue(id, n);
    committer_->hold = true;
    dispatcher_->Pump();
    return transport_->pending().size();
  }
  // The log lines written from now on go to log_ (until StopCapturingLog).
  void CaptureLog() { SetLogSinkForTest(&log_); }
  void StopCapturingLog() { SetLogSinkForTest(nullptr); }
  std::vector<DeadDelivery> Dead(uint64_t id) {
    std::vector<DeadDelivery> out;
    EXPECT_TRUE(store_->ForEachDead(id, 1000, [&](DeadDelivery&& d) {
                  out.push_back(std::move(d));
                }).ok());
    return out;
  }

  TempDir dir_;
  FakeClock clock_{1'800'000'000'000};
  DispatcherOptions options_;
  DestinationLimits limits_;
  TestDestination::Pace pace_;
  TestHooks hooks_;
  std::unique_ptr<OutboxStore> store_;
  std::unique_ptr<ScriptedTransport> transport_;
  std::unique_ptr<SwitchableCommitter> committer_;
  std::unique_ptr<Dispatcher> dispatcher_;
  int next_event_ = 0;
  std::string log_;
};

TEST_F(DispatcherTest, DeliversABatchAndRemovesIt) {
  Start();
  Enqueue(kA, 10);
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 1u);
  const HttpRequest& r = transport_->pending()[0].request;
  EXPECT_EQ(r.url, "http://test/1/new_hits");
  EXPECT_TRUE(absl::StartsWith(r.body, R"([{"id":"e0")"));
  EXPECT_TRUE(absl::StrContains(r.body, R"({"id":"e9","event_type":"hit"}])"));
  EXPECT_EQ(store_->QueuedCount(kA), 10u);
  transport_->Complete(0, Answer200());
  EXPECT_EQ(store_->QueuedCount(kA), 0u);
  EXPECT_EQ(dispatcher_->counters().delivered.load(), 10u);
  EXPECT_EQ(dispatcher_->NextWakeMs(), kNoDue);
  EXPECT_EQ(AdvanceAndPump(), 0u);  // nothing is sent twice
}

TEST_F(DispatcherTest, AtTheGlobalCapTheLongestWaitingIntegrationGoesFirst) {
  options_.max_in_flight = 1;
  Start();
  Enqueue(kB, 1);
  clock_.Advance(1000);
  Enqueue(kA, 1);
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 1u);
  EXPECT_EQ(transport_->pending()[0].request.url, "http://test/2/new_hits");
  EXPECT_EQ(dispatcher_->NextWakeMs(), kNoDue);  // at the cap: the answer pumps
  transport_->Complete(0, Answer200());
  ASSERT_EQ(transport_->pending().size(), 1u);
  EXPECT_EQ(transport_->pending()[0].request.url, "http://test/1/new_hits");
}

TEST_F(DispatcherTest, ALaneAtItsCapWakesWithItsAnswerNotBefore) {
  options_.max_in_flight_per_integration = 1;
  options_.batch.max_records = 1;
  Start();
  Enqueue(kA, 3);
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 1u);
  // Two more are due, but kA may not send them: nothing to wake up for.
  EXPECT_EQ(dispatcher_->NextWakeMs(), kNoDue);
  // A write for another integration wakes the dispatcher for that one only.
  Enqueue(kB, 1);
  EXPECT_EQ(dispatcher_->NextWakeMs(), clock_.NowMs());
  EXPECT_EQ(AdvanceAndPump(), 1u);
  EXPECT_EQ(transport_->pending()[1].request.url, "http://test/2/new_hits");
  transport_->Complete(0, Answer200());  // kA's answer sends its next one
  ASSERT_EQ(transport_->pending().size(), 2u);
  EXPECT_EQ(transport_->pending()[1].request.url, "http://test/1/new_hits");
}

TEST_F(DispatcherTest, OneRequestPerLogType) {
  Start();
  Enqueue(kA, 3, "new_hits");
  Enqueue(kA, 2, "create_user");
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 2u);
  std::map<std::string, int> records;
  for (auto& p : transport_->pending())
    records[p.request.headers[0].second] = std::count(p.request.body.begin(), p.request.body.end(), '{');
  EXPECT_EQ(records["new_hits"], 3);
  EXPECT_EQ(records["create_user"], 2);
}

TEST_F(DispatcherTest, BatchesRespectRecordAndByteLimits) {
  options_.batch.max_records = 4;
  Start();
  Enqueue(kA, 10);
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 3u);  // 4 + 4 + 2
  for (auto& p : transport_->pending()) EXPECT_LE(p.request.body.size(), 4 * 40u);
}

// The Logs Ingestion API refuses a call whose records lie more than 30
// minutes apart: the batcher cuts the batch where the span would be passed.
TEST_F(DispatcherTest, BatchesStayWithinTheDestinationsTimeSpan) {
  limits_.max_time_span_ms = 30 * kMinuteMs;
  limits_.time_field = "occurred_at";
  Start();
  // Times: 10:00, 10:20, 10:30 (span 30 min: still one batch), 10:31, then
  // one without a time (no constraint), then 09:59 (span from 10:31 is 32).
  for (const char* t : {"10:00", "10:20", "10:30", "10:31"}) {
    Enqueue(kA, 1, "new_hits", absl::StrCat(R"(,"occurred_at":"2026-11-28T)", t, R"(:00Z")"));
  }
  Enqueue(kA, 1);
  Enqueue(kA, 1, "new_hits", R"(,"occurred_at":"2026-11-28T09:59:00Z")");
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 3u);
  std::vector<std::string> bodies;
  for (auto& p : transport_->pending()) bodies.push_back(p.request.body);
  std::sort(bodies.begin(), bodies.end());
  EXPECT_TRUE(absl::StartsWith(bodies[0], R"([{"id":"e0")")) << bodies[0];
  EXPECT_TRUE(absl::StrContains(bodies[0], "10:30:00Z\"}]")) << bodies[0];
  EXPECT_TRUE(absl::StartsWith(bodies[1], R"([{"id":"e3")")) << bodies[1];
  EXPECT_TRUE(absl::StrContains(bodies[1], R"({"id":"e4","event_type":"hit"}])")) << bodies[1];
  EXPECT_TRUE(absl::StartsWith(bodies[2], R"([{"id":"e5")")) << bodies[2];
}

// A pacing destination holds the lane: nothing is sent before the delay it
// asked for, then the held batch goes first.
TEST_F(DispatcherTest, PacingHoldsTheLaneForTheDelayTheDestinationAsks) {
  options_.batch.max_records = 2;
  std::vector<TimeMs> asked;
  int allowance = 1;  // requests the destination lets through now
  pace_ = [&](uint64_t body_bytes, TimeMs now) -> std::optional<TimeMs> {
    EXPECT_GT(body_bytes, 2u);
    asked.push_back(now);
    if (allowance > 0) {
      --allowance;
      return std::nullopt;
    }
    return 250;
  };
  Start();
  Enqueue(kA, 4);
  const TimeMs t0 = clock_.NowMs();
  dispatcher_->Pump();
  ASSERT_EQ(transport_->sent().size(), 1u);
  EXPECT_EQ(dispatcher_->counters().paced.load(), 1u);
  transport_->CompleteAll([](const HttpRequest&) { return Answer200(); });
  EXPECT_EQ(transport_->sent().size(), 1u) << "sent while paced";
  EXPECT_EQ(dispatcher_->NextWakeMs(), t0 + 250);
  clock_.Advance(249);
  dispatcher_->Pump();
  EXPECT_EQ(transport_->sent().size(), 1u);
  allowance = 1;
  clock_.Advance(1);
  dispatcher_->Pump();
  ASSERT_EQ(transport_->sent().size(), 2u);
  EXPECT_TRUE(absl::StartsWith(transport_->sent()[1].body, R"([{"id":"e2")"));
  // The other integration was never held.
  Enqueue(kB, 1);
  allowance = 1;
  dispatcher_->Pump();
  EXPECT_EQ(transport_->sent().size(), 3u);
}

// An answer that cannot be committed leaves the deliveries queued; the lane
// resends them only after a backoff that doubles while commits keep failing.
// The log gets the first failure, then one line per 10 s, and one line when
// writes succeed again.
TEST_F(DispatcherTest, FailedCommitsBackOffBeforeResending) {
  options_.commit_backoff_ms = 1'000;
  options_.commit_backoff_max_ms = 4'000;
  CaptureLog();
  Start();
  Enqueue(kA, 3);
  committer_->fail = true;
  dispatcher_->Pump();
  std::vector<TimeMs> sent_at;
  for (int round = 0; round < 5; ++round) {
    ASSERT_EQ(transport_->pending().size(), 1u) << "round " << round;
    sent_at.push_back(clock_.NowMs());
    transport_->CompleteAll([](const HttpRequest&) { return Answer200(); });
    EXPECT_EQ(transport_->pending().size(), 0u) << "resent without a backoff";
    AdvanceAndPump();
  }
  EXPECT_EQ(committer_->failed, 5);
  EXPECT_EQ(dispatcher_->counters().commit_errors.load(), 5u);
  std::vector<TimeMs> gaps;
  for (size_t i = 1; i < sent_at.size(); ++i) gaps.push_back(sent_at[i] - sent_at[i - 1]);
  EXPECT_EQ(gaps, (std::vector<TimeMs>{1'000, 2'000, 4'000, 4'000}));
  // The store heals: the next answer commits and the backoff starts over.
  committer_->fail = false;
  transport_->CompleteAll([](const HttpRequest&) { return Answer200(); });
  EXPECT_EQ(store_->QueuedCount(kA), 0u);
  StopCapturingLog();
  // Failures at 0, 1, 3, 7 and 11 s: logged at 0 and 11 s.
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(log_, '\n', absl::SkipEmpty())) {
    if (absl::StrContains(line, "outcome write")) lines.emplace_back(line);
  }
  ASSERT_EQ(lines.size(), 3u) << log_;
  EXPECT_TRUE(absl::StrContains(lines[0],
                                "level=error msg=\"outcome write failed; deliveries "
                                "stay queued\" answers=1 integration=1"))
      << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "no space left on device")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "retry_in_ms=1000 similar_errors_not_logged=0"))
      << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[1], "retry_in_ms=4000 similar_errors_not_logged=3"))
      << lines[1];
  EXPECT_TRUE(absl::StrContains(
      lines[2], "outcome writes succeed again\" similar_errors_not_logged=0"))
      << lines[2];
  Enqueue(kA, 1);
  dispatcher_->Pump();
  EXPECT_EQ(transport_->pending().size(), 1u);
}

// Outcomes are written in groups: while max_commits_running writes are
// under way, the answers that come meanwhile wait and then go in one write.
// Their deliveries stay held until it lands: nothing is sent twice.
TEST_F(DispatcherTest, AnswersThatComeWhileWritesRunGoInOneWrite) {
  options_.max_commits_running = 2;
  ASSERT_EQ(SendWithCommitsHeld({{kA, 6}}), 6u);
  transport_->CompleteAll([](const HttpRequest&) { return Answer200(); });
  const DispatcherCounters& c = dispatcher_->counters();
  EXPECT_EQ(c.commits.load(), 2u);  // two writes under way
  EXPECT_EQ(committer_->held(), 2u);
  EXPECT_EQ(c.outcomes_pending.load(), 6u);  // four answers wait for one
  EXPECT_EQ(store_->QueuedCount(kA), 6u);
  clock_.Advance(1 * kHourMs);
  dispatcher_->Pump();
  EXPECT_TRUE(transport_->pending().empty()) << "resent before its outcome was written";

  committer_->CompleteHeld();  // the first write lands; the four go in one
  EXPECT_EQ(c.commits.load(), 3u);
  EXPECT_EQ(c.outcomes_pending.load(), 5u);
  EXPECT_EQ(store_->QueuedCount(kA), 5u);
  committer_->CompleteHeld(2);
  EXPECT_EQ(committer_->held(), 0u);
  EXPECT_EQ(c.commits.load(), 3u);
  EXPECT_EQ(c.outcomes_pending.load(), 0u);
  EXPECT_EQ(store_->QueuedCount(kA), 0u);
  EXPECT_EQ(c.delivered.load(), 6u);
  EXPECT_EQ(dispatcher_->Health(kA).requests, 6u);
  clock_.Advance(1 * kHourMs);
  EXPECT_EQ(AdvanceAndPump(), 0u);
}

// A slow outcome write does not idle the lane: the answer frees its
// request slot at once, and what is due goes out while the write runs.
TEST_F(DispatcherTest, AnAnswerFreesItsSlotBeforeItsOutcomeIsWritten) {
  options_.max_in_flight_per_integration = 1;
  ASSERT_EQ(SendWithCommitsHeld({{kA, 3}}), 1u);
  transport_->Complete(0, Answer200());
  EXPECT_EQ(committer_->held(), 1u);
  ASSERT_EQ(transport_->pending().size(), 1u) << "the lane waited for the write";
  EXPECT_EQ(transport_->sent().size(), 2u);
  EXPECT_FALSE(absl::StrContains(transport_->pending()[0].request.body, R"("e0")"));
  transport_->Complete(0, Answer200());
  ASSERT_EQ(transport_->pending().size(), 1u);
  committer_->hold = false;
  committer_->CompleteHeld(2);
  transport_->Complete(0, Answer200());
  EXPECT_EQ(transport_->sent().size(), 3u);
  EXPECT_EQ(store_->QueuedCount(kA), 0u);
}

TEST_F(DispatcherTest, AWriteCarriesAtMostMaxAnswersPerCommit) {
  options_.max_commits_running = 1;
  options_.max_answers_per_commit = 2;
  ASSERT_EQ(SendWithCommitsHeld({{kA, 6}}), 6u);
  transport_->CompleteAll([](const HttpRequest&) { return Answer200(); });
  // One alone (nothing was running), then full groups of two; the sixth
  // answer waits for a write to complete.
  EXPECT_EQ(dispatcher_->counters().commits.load(), 3u);
  EXPECT_EQ(dispatcher_->counters().outcomes_pending.load(), 6u);
  committer_->CompleteHeld(3);  // the first completion submits the sixth
  EXPECT_EQ(dispatcher_->counters().commits.load(), 4u);
  committer_->CompleteHeld();
  EXPECT_EQ(store_->QueuedCount(kA), 0u);
  EXPECT_EQ(dispatcher_->counters().outcomes_pending.load(), 0u);
}

// At shutdown the answers waiting for a group go to the committer at once,
// and so does every later answer: the daemon then drains the committer and
// no completion hands it more work.
TEST_F(DispatcherTest, StopSubmitsTheWaitingAnswers) {
  options_.max_commits_running = 1;
  ASSERT_EQ(SendWithCommitsHeld({{kA, 5}}), 5u);
  for (int i = 0; i < 3; ++i) transport_->Complete(0, Answer200());
  EXPECT_EQ(dispatcher_->counters().commits.load(), 1u);
  dispatcher_->Stop();
  EXPECT_EQ(dispatcher_->counters().commits.load(), 2u);
  transport_->Complete(0, Answer200());
  EXPECT_EQ(dispatcher_->counters().commits.load(), 3u);
  EXPECT_EQ(committer_->held(), 3u);
  committer_->CompleteHeld(3);
  EXPECT_EQ(dispatcher_->counters().commits.load(), 3u);
  EXPECT_EQ(store_->QueuedCount(kA), 1u);  // the one never answered
  EXPECT_EQ(dispatcher_->counters().outcomes_pending.load(), 0u);
}

// A group's write fails as a whole: every lane with an answer in it keeps
// its deliveries queued and backs off.
TEST_F(DispatcherTest, AFailedGroupWriteBacksOffEveryLaneInIt) {
  options_.max_commits_running = 1;
  options_.commit_backoff_ms = 1'000;
  ASSERT_EQ(SendWithCommitsHeld({{kA, 2}, {kB, 1}}), 3u);
  // One of kA's answers first, alone; kA's other and kB's wait in a group.
  size_t first = 0;
  while (transport_->pending()[first].request.url != "http://test/1/new_hits") ++first;
  transport_->Complete(first, Answer200());
  transport_->CompleteAll([](const HttpRequest&) { return Answer200(); });
  ASSERT_EQ(committer_->held(), 1u);
  committer_->CompleteHeld();
  ASSERT_EQ(committer_->held(), 1u);
  EXPECT_EQ(store_->QueuedCount(kA) + store_->QueuedCount(kB), 2u);
  committer_->fail = true;
  CaptureLog();
  committer_->CompleteHeld();
  StopCapturingLog();
  EXPECT_EQ(committer_->failed, 1);
  EXPECT_TRUE(
      absl::StrContains(log_, "outcome write failed; deliveries stay queued\" answers=2"))
      << log_;
  EXPECT_EQ(dispatcher_->counters().commit_errors.load(), 2u);  // per answer
  EXPECT_EQ(store_->QueuedCount(kA) + store_->QueuedCount(kB), 2u);
  committer_->fail = false;
  committer_->hold = false;
  dispatcher_->Pump();
  EXPECT_TRUE(transport_->pending().empty()) << "resent without a backoff";
  clock_.Advance(1'000);
  dispatcher_->Pump();
  EXPECT_EQ(transport_->pending().size(), 2u);
  transport_->CompleteAll([](const HttpRequest&) { return Answer200(); });
  EXPECT_EQ(store_->QueuedCount(kA) + store_->QueuedCount(kB), 0u);
}

TEST_F(DispatcherTest, LingersForAPartialBatch) {
  options_.batch.linger_ms = 50;
  Start();
  Enqueue(kA, 2);
  dispatcher_->Pump();
  EXPECT_EQ(transport_->sent().size(), 0u);
  EXPECT_EQ(dispatcher_->NextWakeMs(), clock_.NowMs() + 50);
  clock_.Advance(49);
  dispatcher_->Pump();
  EXPECT_EQ(transport_->sent().size(), 0u);
  clock_.Advance(1);
  dispatcher_->Pump();
  EXPECT_EQ(transport_->sent().size(), 1u);
}

// The published schedule, request by request, after each failure.
TEST_F(DispatcherTest, RetriesOnTheExactSchedule) {
  Start();
  Enqueue(kA, 1);
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 1u);
  const std::vector<TimeMs> expected_s = {1, 3, 5, 10, 10, 0, 1, 3, 5, 30,
                                          60, 60, 180, 300, 600, 1800, 1800, 1800};
  for (size_t i = 0; i < expected_s.size(); ++i) {
    clock_.Advance(20);  // the failed request took 20 ms
    TimeMs answered = clock_.NowMs();
    transport_->Complete(0, Answer500());
    TimeMs due = answered + expected_s[i] * kSecondMs;
    if (due == answered) {  // a 0 s interval: sent again right away
      ASSERT_EQ(transport_->pending().size(), 1u) << "after failure " << i + 1;
      continue;
    }
    ASSERT_EQ(dispatcher_->NextWakeMs(), due) << "after failure " << i + 1;
    clock_.Set(due - 1);
    dispatcher_->Pump();
    ASSERT_EQ(transport_->pending().size(), 0u) << "sent early, failure " << i + 1;
    clock_.Set(due);
    dispatcher_->Pump();
    ASSERT_EQ(transport_->pending().size(), 1u) << "not sent on time, failure " << i + 1;
  }
  transport_->Complete(0, Answer200());
  EXPECT_EQ(store_->QueuedCount(kA), 0u);
  EXPECT_EQ(dispatcher_->counters().retried.load(), expected_s.size());
}

TEST_F(DispatcherTest, RetryAfterWinsWhenLonger) {
  Start();
  Enqueue(kA, 1);
  dispatcher_->Pump();
  HttpResponse r = ScriptedTransport::Status(429);
  r.headers.emplace_back("retry-after", "120");
  transport_->Complete(0, r);
  EXPECT_EQ(dispatcher_->NextWakeMs(), clock_.NowMs() + 120 * kSecondMs);

  clock_.Set(dispatcher_->NextWakeMs());
  dispatcher_->Pump();
  HttpResponse shorter = ScriptedTransport::Status(503);
  shorter.headers.emplace_back("retry-after", "1");  // the schedule says 3 s
  transport_->Complete(0, shorter);
  EXPECT_EQ(dispatcher_->NextWakeMs(), clock_.NowMs() + 3 * kSecondMs);
}

TEST_F(DispatcherTest, TransportErrorsAreRetried) {
  Start();
  Enqueue(kA, 2);
  dispatcher_->Pump();
  HttpResponse timeout;
  timeout.timed_out = true;
  timeout.transport_error = "timeout";
  transport_->Complete(0, timeout);
  EXPECT_EQ(store_->QueuedCount(kA), 2u);
  EXPECT_EQ(dispatcher_->NextWakeMs(), clock_.NowMs() + 1 * kSecondMs);
  EXPECT_EQ(dispatcher_->counters().requests_failed_transport.load(), 1u);
}

// A destination that is down fails every request: the log gets the first
// failure, one line per 10 s with the count left out, and one line when
// requests succeed again; the next failure after that is logged at once.
TEST_F(DispatcherTest, RepeatedFailuresAreLoggedOncePer10Seconds) {
  CaptureLog();
  Start();
  Enqueue(kA, 1);
  dispatcher_->Pump();
  // Failures at 0, 1, 4, 9 s (the schedule's 1, 3, 5 s apart), then 19 s.
  for (int i = 0; i < 5; ++i) {
    if (i > 0) {
      ASSERT_EQ(AdvanceAndPump(), 1u);
    }
    transport_->Complete(0, Answer500());
  }
  ASSERT_EQ(AdvanceAndPump(), 1u);
  transport_->Complete(0, Answer200());
  Enqueue(kA, 1);
  ASSERT_EQ(AdvanceAndPump(), 1u);
  transport_->Complete(0, Answer500());
  StopCapturingLog();

  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(log_, '\n', absl::SkipEmpty())) {
    if (absl::StrContains(line, "msg=\"request")) lines.emplace_back(line);
  }
  ASSERT_EQ(lines.size(), 4u) << log_;
  EXPECT_TRUE(absl::StrContains(lines[0], "msg=\"request failed\"")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "failed_in_a_row=1 similar_errors_not_logged=0"))
      << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[1], "failed_in_a_row=5 similar_errors_not_logged=3"))
      << lines[1];
  EXPECT_TRUE(absl::StrContains(lines[2], "msg=\"requests succeed again\" integration=1 "
                                          "failed_before=5 similar_errors_not_logged=0"))
      << lines[2];
  EXPECT_TRUE(absl::StrContains(lines[3], "failed_in_a_row=1 similar_errors_not_logged=0"))
      << lines[3];
}

TEST_F(DispatcherTest, PastMaxAgeGoesToDead) {
  options_.retry.max_age_ms = 10 * kSecondMs;
  Start();
  Enqueue(kA, 1);
  dispatcher_->Pump();
  // Failures at 0, 1, 4, 9 s are retried; the one at 19 s is past 10 s.
  for (int i = 0; i < 4; ++i) {
    transport_->Complete(0, Answer500());
    ASSERT_EQ(AdvanceAndPump(), 1u);
  }
  CaptureLog();
  transport_->Complete(0, Answer500());
  StopCapturingLog();
  EXPECT_TRUE(
      absl::StrContains(log_,
                        "msg=\"deliveries moved to dead\" integration=1 records=1 "
                        "reason=\"max age exceeded; last answer: 500"))
      << log_;
  EXPECT_EQ(store_->QueuedCount(kA), 0u);
  auto dead = Dead(kA);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_TRUE(absl::StrContains(dead[0].reason, "max age")) << dead[0].reason;
  EXPECT_TRUE(absl::StrContains(dead[0].reason, "500")) << dead[0].reason;
  EXPECT_EQ(dead[0].delivery.attempts, 4u);
}

// A poisoned record is isolated: the good records of its batch still go.
TEST_F(DispatcherTest, BisectsARejectedBatch) {
  Start();
  Enqueue(kA, 4);
  Enqueue(kA, 1, "new_hits", R"(,"reject":true)");
  Enqueue(kA, 3);
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 1u);
  size_t delivered_records = 0;
  transport_->CompleteAll([&](const HttpRequest& r) {
    if (absl::StrContains(r.body, R"("reject":true)"))
      return ScriptedTransport::Status(400, R"({"Error":"InvalidDataFormat","Message":"bad"})");
    delivered_records += std::count(r.body.begin(), r.body.end(), '{');
    return Answer200();
  });
  EXPECT_EQ(delivered_records, 7u);
  EXPECT_EQ(transport_->sent().size(), 7u);  // 8 -> 4+4 -> 2+2 -> 1+1
  EXPECT_EQ(store_->QueuedCount(kA), 0u);
  auto dead = Dead(kA);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_TRUE(dead[0].delivery.event.view().find("reject") != std::string_view::npos);
  EXPECT_TRUE(absl::StrContains(dead[0].reason, "InvalidDataFormat")) << dead[0].reason;
  EXPECT_TRUE(hooks_.broken.empty());
}

TEST_F(DispatcherTest, ConfigurationErrorsAreFailedRequestsNotBisected) {
  Start();
  Enqueue(kA, 4);
  dispatcher_->Pump();
  transport_->Complete(0, ScriptedTransport::Status(403, R"({"Error":"InvalidAuthorization"})"));
  EXPECT_EQ(transport_->sent().size(), 1u);
  EXPECT_EQ(store_->QueuedCount(kA), 4u);
  EXPECT_TRUE(Dead(kA).empty());
  EXPECT_EQ(dispatcher_->Health(kA).failures, 1u);
}

TEST_F(DispatcherTest, OversizedRecordGoesToDead) {
  limits_.max_body_bytes = 100;
  Start();
  Enqueue(kA, 1, "new_hits", absl::StrCat(R"(,"blob":")", std::string(200, 'x'), "\""));
  Enqueue(kA, 1);
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 1u);
  auto dead = Dead(kA);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_TRUE(absl::StrContains(dead[0].reason, "exceeds the request limit"));
}

TEST_F(DispatcherTest, CapsRequestsInFlightPerIntegration) {
  options_.max_in_flight_per_integration = 2;
  options_.batch.max_records = 1;
  Start();
  Enqueue(kA, 10);
  Enqueue(kB, 1);
  dispatcher_->Pump();
  EXPECT_EQ(dispatcher_->InFlight(kA), 2u);
  EXPECT_EQ(dispatcher_->InFlight(kB), 1u);  // not starved by kA
  // As answers come, kA's queue drains two at a time.
  size_t n = transport_->CompleteAll([](const HttpRequest&) { return Answer200(); });
  EXPECT_EQ(n, 11u);
  EXPECT_EQ(store_->QueuedCount(kA), 0u);
  EXPECT_EQ(dispatcher_->counters().peak_in_flight.load(), 3u);
}

TEST_F(DispatcherTest, CompletesOutOfOrderAndNeverResendsWhatIsInFlight) {
  options_.batch.max_records = 2;
  Start();
  Enqueue(kA, 6);
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 3u);
  transport_->Complete(2, Answer200());  // last first
  transport_->Complete(0, Answer500());  // first fails
  // The middle one never completes. Later writes rewind the store's cursor;
  // what is in flight must still not be sent again.
  Enqueue(kA, 1);
  clock_.Advance(1 * kSecondMs);
  dispatcher_->Pump();
  std::vector<std::string> bodies;
  for (auto& p : transport_->pending()) bodies.push_back(p.request.body);
  ASSERT_EQ(bodies.size(), 3u) << "in flight: the middle one, the retry, the new one";
  int e2 = 0, e3 = 0;
  for (auto& b : bodies) {
    e2 += absl::StrContains(b, R"("e2")");
    e3 += absl::StrContains(b, R"("e3")");
  }
  EXPECT_EQ(e2, 1);
  EXPECT_EQ(e3, 1);
  EXPECT_EQ(store_->QueuedCount(kA), 5u);  // 6 + 1 - 2 delivered
}

TEST_F(DispatcherTest, RestartResendsWhatWasInFlight) {
  Start();
  Enqueue(kA, 3);
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 1u);  // never answered: the process dies
  Restart();
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 1u);
  EXPECT_EQ(std::count(transport_->pending()[0].request.body.begin(),
                       transport_->pending()[0].request.body.end(), '{'),
            3);
  transport_->Complete(0, Answer200());
  EXPECT_EQ(store_->QueuedCount(kA), 0u);
}

// At shutdown the transport cancels what is still in flight: that is no
// answer, so nothing is committed (no retry step, no failure in the window)
// and the deliveries go again, unchanged, after the restart. Answers that do
// arrive after Stop still commit.
TEST_F(DispatcherTest, RequestsCancelledAtShutdownStayQueuedUnchanged) {
  options_.batch.max_records = 2;
  Start();
  Enqueue(kA, 4);
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 2u);
  dispatcher_->Stop();
  transport_->Complete(0, Answer200());
  HttpResponse cancelled;
  cancelled.transport_error = "cancelled";
  transport_->Complete(0, cancelled);
  EXPECT_EQ(store_->QueuedCount(kA), 2u);
  EXPECT_EQ(dispatcher_->Health(kA).requests, 1u);
  EXPECT_EQ(dispatcher_->Health(kA).failures, 0u);
  EXPECT_TRUE(transport_->pending().empty());
  Restart();
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 1u);
  EXPECT_EQ(transport_->pending()[0].request.body.find(R"("id":"e0")"), std::string::npos);
  transport_->Complete(0, Answer200());
  EXPECT_EQ(store_->QueuedCount(kA), 0u);
}

TEST_F(DispatcherTest, DisabledIntegrationIsParkedAndResumes) {
  Start({Config(kA, IntegrationState::kDisabled), Config(kB)});
  Enqueue(kA, 5);
  clock_.Advance(1 * kHourMs);
  dispatcher_->Pump();
  EXPECT_EQ(transport_->sent().size(), 0u);
  EXPECT_EQ(store_->QueuedCount(kA), 5u);
  IntegrationConfig enabled = Config(kA);
  enabled.version = 2;
  dispatcher_->SetIntegration(enabled);
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 1u);
  transport_->Complete(0, Answer200());
  EXPECT_EQ(store_->QueuedCount(kA), 0u);
}

TEST_F(DispatcherTest, DisablingDropsWhatIsHeldButNotWhatIsStored) {
  options_.max_in_flight_per_integration = 1;
  options_.batch.max_records = 1;
  Start();
  Enqueue(kA, 3);
  dispatcher_->Pump();  // one in flight, two held in memory
  dispatcher_->SetIntegration(Config(kA, IntegrationState::kDisabled));
  transport_->Complete(0, Answer200());  // the one in flight still settles
  clock_.Advance(1 * kHourMs);
  dispatcher_->Pump();
  EXPECT_EQ(transport_->sent().size(), 1u);
  EXPECT_EQ(store_->QueuedCount(kA), 2u);
  dispatcher_->SetIntegration(Config(kA));
  dispatcher_->Pump();
  EXPECT_EQ(transport_->CompleteAll([](const HttpRequest&) { return Answer200(); }), 2u);
  EXPECT_EQ(store_->QueuedCount(kA), 0u);
}

class FailureRuleTest : public DispatcherTest {
 protected:
  void SetUp() override {
    options_.health.window_ms = 12 * kHourMs;
    options_.health.threshold = 0.6;
    options_.health.min_requests = 20;
    options_.batch.max_records = 1;  // one event, one request
    DispatcherTest::SetUp();
  }
  void Succeed(int requests) {
    Enqueue(kA, requests);
    dispatcher_->Pump();
    transport_->CompleteAll([](const HttpRequest&) { return Answer200(); });
  }
  // Answers `n` requests of kA with 500, moving the clock to each retry.
  // Returns how many were sent (fewer once the rule parks kA).
  int Fail(int n) {
    int sent = 0;
    for (int i = 0; i < n; ++i) {
      if (transport_->pending().empty() && AdvanceAndPump() == 0) break;
      ++sent;
      transport_->Complete(0, Answer500());
    }
    return sent;
  }
};

TEST_F(FailureRuleTest, TripsAtSixtyPercentAcrossARestart) {
  Start();
  Succeed(10);
  clock_.Advance(1 * kHourMs);
  Enqueue(kA, 1);
  dispatcher_->Pump();
  ASSERT_EQ(Fail(8), 8);
  EXPECT_TRUE(hooks_.broken.empty());
  Restart();  // the window is rebuilt from the stats column family
  EXPECT_EQ(dispatcher_->Health(kA).requests, 18u);
  EXPECT_EQ(dispatcher_->Health(kA).failures, 8u);
  // 14 failures of 24 requests is 58%: still enabled.
  ASSERT_EQ(Fail(6), 6);
  EXPECT_TRUE(hooks_.broken.empty());
  // The 15th failure makes 15/25 = 60%.
  ASSERT_EQ(Fail(1), 1);
  ASSERT_EQ(hooks_.broken.size(), 1u);
  EXPECT_EQ(hooks_.broken[0], kA);
  // Same batch: the state record and the notice for the company.
  auto record = store_->GetIntegration(kA);
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_EQ(**record, "state=broken");
  EXPECT_EQ(store_->QueuedCount(kB), 1u);
  // Broken: parked, nothing lost, nothing sent.
  EXPECT_EQ(store_->QueuedCount(kA), 1u);
  dispatcher_->Pump();  // kB's notice goes
  EXPECT_EQ(transport_->CompleteAll([](const HttpRequest&) { return Answer200(); }), 1u);
  clock_.Advance(2 * kHourMs);
  EXPECT_EQ(Fail(5), 0);
  EXPECT_EQ(dispatcher_->InFlight(kA), 0u);

  // Enabling clears the window and resumes the queue.
  IntegrationConfig enabled = Config(kA);
  enabled.version = 2;
  dispatcher_->SetIntegration(enabled);
  EXPECT_EQ(dispatcher_->Health(kA).requests, 0u);
  dispatcher_->Pump();
  EXPECT_EQ(transport_->CompleteAll([](const HttpRequest&) { return Answer200(); }), 1u);
  EXPECT_EQ(store_->QueuedCount(kA), 0u);
}

TEST_F(FailureRuleTest, OldRequestsSlideOutOfTheWindow) {
  Start();
  Succeed(10);
  clock_.Advance(1 * kHourMs);
  Enqueue(kA, 1);
  dispatcher_->Pump();
  ASSERT_EQ(Fail(7), 7);
  // 13 h later the successes and the failures have left the 12 h window.
  clock_.Advance(13 * kHourMs);
  EXPECT_EQ(dispatcher_->Health(kA).requests, 0u);
  // Now every request fails, but the rule waits for 20 requests.
  ASSERT_EQ(Fail(19), 19);
  EXPECT_TRUE(hooks_.broken.empty());
  ASSERT_EQ(Fail(1), 1);
  EXPECT_EQ(hooks_.broken.size(), 1u);
}

TEST_F(FailureRuleTest, RecordRejectionsDoNotCountAsFailures) {
  Start();
  Enqueue(kA, 1, "new_hits", R"(,"reject":true)");
  dispatcher_->Pump();
  transport_->Complete(0, ScriptedTransport::Status(400, R"({"Error":"InvalidDataFormat"})"));
  EXPECT_EQ(dispatcher_->Health(kA).requests, 1u);
  EXPECT_EQ(dispatcher_->Health(kA).failures, 0u);
}

TEST_F(DispatcherTest, DeletingIntegrationIsReportedDrainedAfterItsLastNotice) {
  Start();
  Enqueue(NoticeLaneOf(kA), 1, "delete_integration");
  dispatcher_->SetIntegration(Config(kA, IntegrationState::kDeleting));
  EXPECT_TRUE(hooks_.drained.empty());
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 1u);  // its last notice still goes
  EXPECT_EQ(transport_->pending()[0].request.url, "http://test/1/delete_integration");
  transport_->Complete(0, Answer500());  // ... under the usual retry rules
  EXPECT_TRUE(hooks_.drained.empty());
  EXPECT_EQ(AdvanceAndPump(), 1u);
  transport_->Complete(0, Answer200());
  ASSERT_EQ(hooks_.drained.size(), 1u);
  EXPECT_EQ(hooks_.drained[0], kA);
}

TEST_F(DispatcherTest, NoticeLaneDeliversWhileTheIntegrationIsParked) {
  Start({Config(kA, IntegrationState::kDisabled), Config(kB)});
  Enqueue(kA, 3);
  Enqueue(NoticeLaneOf(kA), 1, "disable_integration");
  dispatcher_->Pump();
  ASSERT_EQ(transport_->pending().size(), 1u);
  EXPECT_EQ(transport_->pending()[0].request.url, "http://test/1/disable_integration");
  transport_->Complete(0, Answer200());
  EXPECT_EQ(store_->QueuedCount(NoticeLaneOf(kA)), 0u);
  EXPECT_EQ(store_->QueuedCount(kA), 3u);
  EXPECT_EQ(AdvanceAndPump(), 0u);
  EXPECT_TRUE(hooks_.drained.empty());  // disabled, not deleting
}

}  // namespace
}  // namespace outboxd
