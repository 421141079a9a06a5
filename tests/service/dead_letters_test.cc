// ServiceImpl::ListDead / ReplayDead over a real store and registry: lanes,
// limits, the atomic replay (dead entry gone, delivery due now with its
// attempts reset, queued count up) and the replay-all cap.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fakes/temp_dir.h"
#include "service/registry.h"
#include "service/service_fixture.h"
#include "service/service_impl.h"

namespace outboxd {
namespace {

// base64 of "outboxd-test-primary-key-0123456789"
constexpr char kPrimaryKey[] = "b3V0Ym94ZC10ZXN0LXByaW1hcnkta2V5LTAxMjM0NTY3ODk=";

class DeadLettersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    box_ = testing::TestSecretBox();
    // No crash here; fsyncs would only slow the cap test.
    ASSERT_TRUE(testing::OpenStoreAndRegistry(dir_.Sub("outbox"), &clock_, box_.get(),
                                              /*sync=*/false, &store_, &registry_)
                    .ok());
    // Dead letters touch neither the dispatcher loop nor the hourly report.
    service_ = std::make_unique<ServiceImpl>(store_.get(), registry_.get(), nullptr,
                                             &clock_, LoopAccess{}, ServiceOptions{});
    IntegrationConfig c;
    c.company_id = 7;
    c.name = "dead";
    c.workspace_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    c.primary_key = kPrimaryKey;
    c.events.hits = true;
    auto created = registry_->Create(c);
    ASSERT_TRUE(created.ok()) << created.status();
    id_ = created->id;
  }

  // Enqueues `n` deliveries on `lane` and moves them to dead; their seqs.
  std::vector<uint64_t> MakeDead(uint64_t lane, int n, const std::string& tag = "e") {
    Changes enqueue = store_->NewChanges();
    std::vector<Delivery> made;
    for (int i = 0; i < n; ++i) {
      Delivery d;
      d.key =
          enqueue.Enqueue(lane, "new_hits", absl::StrCat(R"({"id":")", tag, i, R"("})"),
                          clock_.NowMs() - kHourMs, clock_.NowMs() - kHourMs);
      d.attempts = 4;
      d.first_enqueued_ms = clock_.NowMs() - kHourMs;
      d.log_type = "new_hits";
      d.event = absl::StrCat(R"({"id":")", tag, i, R"("})");
      made.push_back(d);
    }
    absl::Status applied = store_->Apply(std::move(enqueue));
    EXPECT_TRUE(applied.ok()) << applied;
    Changes kill = store_->NewChanges();
    std::vector<uint64_t> seqs;
    for (const Delivery& d : made) {
      kill.MoveToDead(d, "rejected: 400 InvalidDataFormat", clock_.NowMs());
      seqs.push_back(d.key.seq);
    }
    EXPECT_TRUE(store_->Apply(std::move(kill)).ok());
    return seqs;
  }

  std::vector<Delivery> Queued(uint64_t lane) {
    std::vector<Delivery> out;
    store_->ResetCursor(lane);
    EXPECT_TRUE(store_
                    ->ScanDue(lane, kNoDue - 1, 100'000,
                              [&](Delivery&& d) { out.push_back(std::move(d)); })
                    .ok());
    store_->ResetCursor(lane);
    return out;
  }

  TempDir dir_;
  FakeClock clock_{1'800'000'000'000};
  std::unique_ptr<SecretBox> box_;
  std::unique_ptr<OutboxStore> store_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<ServiceImpl> service_;
  uint64_t id_ = 0;
};

TEST_F(DeadLettersTest, ListsOwnLaneThenNoticeLaneUpToTheLimit) {
  const std::vector<uint64_t> own = MakeDead(id_, 2);
  const std::vector<uint64_t> notice = MakeDead(NoticeLaneOf(id_), 1, "n");
  auto all = service_->ListDead(id_, 100);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].delivery.key.seq, own[0]);
  EXPECT_EQ((*all)[1].delivery.key.seq, own[1]);
  EXPECT_EQ((*all)[2].delivery.key.seq, notice[0]);
  EXPECT_EQ((*all)[0].reason, "rejected: 400 InvalidDataFormat");
  EXPECT_EQ((*all)[0].delivery.event, R"({"id":"e0"})");
  EXPECT_EQ((*all)[0].delivery.attempts, 4u);
  EXPECT_EQ((*all)[0].died_ms, clock_.NowMs());
  auto two = service_->ListDead(id_, 2);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->size(), 2u);
  EXPECT_EQ(service_->ListDead(id_ + 1, 10).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DeadLettersTest, ReplaysChosenSeqsBackToTheOutboxDueNow) {
  const std::vector<uint64_t> seqs = MakeDead(id_, 3);
  ASSERT_EQ(store_->QueuedCount(id_), 0u);
  clock_.Advance(kMinuteMs);
  auto replayed = service_->ReplayDead(id_, {seqs[2], seqs[0], 424242});
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(replayed->replayed, 2u);
  EXPECT_FALSE(replayed->more);
  EXPECT_EQ(store_->QueuedCount(id_), 2u);
  const std::vector<Delivery> queued = Queued(id_);
  ASSERT_EQ(queued.size(), 2u);
  for (const Delivery& d : queued) {
    EXPECT_EQ(d.key.due_ms, clock_.NowMs());
    EXPECT_EQ(d.attempts, 0u);
    EXPECT_EQ(d.log_type, "new_hits");
  }
  EXPECT_EQ(queued[0].event, R"({"id":"e0"})");
  EXPECT_EQ(queued[1].event, R"({"id":"e2"})");
  auto left = service_->ListDead(id_, 10);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].delivery.key.seq, seqs[1]);
}

TEST_F(DeadLettersTest, ReplayAllCoversTheNoticeLane) {
  MakeDead(id_, 2);
  MakeDead(NoticeLaneOf(id_), 1, "n");
  auto replayed = service_->ReplayDead(id_, {});
  ASSERT_TRUE(replayed.ok());
  EXPECT_EQ(replayed->replayed, 3u);
  EXPECT_EQ(store_->QueuedCount(id_), 2u);
  EXPECT_EQ(store_->QueuedCount(NoticeLaneOf(id_)), 1u);
  EXPECT_TRUE(service_->ListDead(id_, 10)->empty());
  EXPECT_EQ(service_->ReplayDead(id_, {})->replayed, 0u);
  EXPECT_EQ(service_->ReplayDead(id_ + 1, {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(DeadLettersTest, ReplayAllStopsAtTheCapAndSaysMoreRemain) {
  MakeDead(id_, static_cast<int>(kMaxReplayPerCall) + 2);
  auto first = service_->ReplayDead(id_, {});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->replayed, kMaxReplayPerCall);
  EXPECT_TRUE(first->more);
  auto second = service_->ReplayDead(id_, {});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->replayed, 2u);
  EXPECT_FALSE(second->more);
  EXPECT_EQ(store_->QueuedCount(id_), kMaxReplayPerCall + 2);
}

}  // namespace
}  // namespace outboxd
