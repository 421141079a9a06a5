// The registry's routing and state changes, the notices they cause, the
// hourly report, and secrets at rest — over a real store in a temp dir.
#include "service/registry.h"
#include "service/service_fixture.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fakes/temp_dir.h"
#include "outboxd/signer.h"
#include "service/hourly_report.h"

namespace outboxd {
namespace {

constexpr uint64_t kCompany = 7;
// base64 of "outboxd-test-primary-key-0123456789"
constexpr char kPrimaryKey[] = "b3V0Ym94ZC10ZXN0LXByaW1hcnkta2V5LTAxMjM0NTY3ODk=";

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    box_ = testing::TestSecretBox();
    Open();
  }
  void Open() {
    ASSERT_TRUE(testing::OpenStoreAndRegistry(dir_.Sub("outbox"), &clock_, box_.get(),
                                              /*sync=*/true, &store_, &registry_)
                    .ok());
    registry_->SetListener({[this](const IntegrationConfig& c) { changed_.push_back(c); },
                            [this](uint64_t id) { removed_.push_back(id); }});
  }
  void Reopen() {
    registry_.reset();
    store_.reset();
    Open();
  }
  uint64_t Create(std::string name, Selection events, uint64_t company = kCompany) {
    IntegrationConfig c;
    c.company_id = company;
    c.name = std::move(name);
    c.workspace_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    c.primary_key = kPrimaryKey;
    c.events = events;
    auto created = registry_->Create(c);
    EXPECT_TRUE(created.ok()) << created.status();
    return created->id;
  }
  // The deliveries queued for a lane: (log type, event JSON).
  std::vector<std::pair<std::string, std::string>> Queued(uint64_t lane) {
    std::vector<std::pair<std::string, std::string>> out;
    store_->ResetCursor(lane);
    EXPECT_TRUE(store_->ScanDue(lane, kNoDue - 1, 1000, [&](Delivery&& d) {
                        out.emplace_back(d.log_type, d.event);
                      }).ok());
    store_->ResetCursor(lane);
    return out;
  }
  absl::StatusOr<uint64_t> Ingest(uint64_t company, EventType type, std::string json,
                                  Risk risk = Risk::kNone) {
    EventFacts f;
    f.type = type;
    f.risk = risk;
    return registry_->IngestDurably({{company, f, json}}, clock_.NowMs());
  }

  TempDir dir_;
  FakeClock clock_{1'800'000'000'000};
  std::unique_ptr<SecretBox> box_;
  std::unique_ptr<OutboxStore> store_;
  std::unique_ptr<Registry> registry_;
  std::vector<IntegrationConfig> changed_;
  std::vector<uint64_t> removed_;
};

Selection Hits() { Selection s; s.hits = true; return s; }
Selection System() { Selection s; s.system = true; return s; }

TEST_F(RegistryTest, IdsAreNeverReusedAcrossRestarts) {
  uint64_t a = Create("a", Hits());
  uint64_t b = Create("b", Hits());
  EXPECT_EQ(a, 1u);
  EXPECT_EQ(b, 2u);
  ASSERT_TRUE(registry_->Delete(b).ok());
  registry_->OnDrained(b);
  Reopen();
  EXPECT_EQ(Create("c", Hits()), 3u);
  ASSERT_EQ(registry_->List().size(), 2u);
  EXPECT_EQ(registry_->List()[0].primary_key, kPrimaryKey);  // decrypted on load
}

TEST_F(RegistryTest, RoutesBySelectionAndState) {
  uint64_t hits = Create("hits", Hits());
  uint64_t system = Create("system", System());
  uint64_t disabled = Create("disabled", Hits());
  uint64_t other_company = Create("other", Hits(), kCompany + 1);
  ASSERT_TRUE(registry_->SetEnabled(disabled, false).ok());
  auto n = Ingest(kCompany, EventType::kHit, R"({"id":"h1","event_type":"hit"})");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(Queued(hits).size(), 1u);
  EXPECT_EQ(Queued(hits)[0].first, "new_hits");
  EXPECT_TRUE(Queued(disabled).empty());
  EXPECT_TRUE(Queued(other_company).empty());
  // system already got the "disabled" notice of `disabled`.
  auto notices = Queued(system);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].first, "disable_integration");
  EXPECT_TRUE(absl::StrContains(notices[0].second, R"("event_type":"integration_disabled")"));
  EXPECT_TRUE(absl::StrContains(notices[0].second, R"("integration_name":"disabled")"));
}

// Ingest, reads and management changes from several threads (the API's
// threads do this): every delivery an ingest reports is in a queue, and
// nothing else is. In the TSan suite this also checks the locking.
TEST_F(RegistryTest, ConcurrentIngestAndManagementAgreeOnEveryDelivery) {
  std::vector<uint64_t> ids = {Create("first", Hits())};
  std::atomic<uint64_t> reported{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        auto n = Ingest(kCompany, EventType::kHit,
                        absl::StrCat(R"({"id":"t)", t, "-", i, R"(","event_type":"hit"})"));
        if (!n.ok() || *n == 0 || *n > 4) failed = true;
        if (n.ok()) reported += *n;
        if (registry_->List().empty()) failed = true;
      }
    });
  }
  for (int k = 0; k < 3; ++k) {
    ids.push_back(Create(absl::StrCat("added", k), Hits()));
    ASSERT_TRUE(registry_->SetEnabled(ids.back(), false).ok());
    ASSERT_TRUE(registry_->SetEnabled(ids.back(), true).ok());
  }
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(failed.load());
  uint64_t queued = 0;
  for (uint64_t id : ids) queued += store_->QueuedCount(id);
  EXPECT_EQ(queued, reported.load());
  EXPECT_GE(reported.load(), 300u);
}

TEST_F(RegistryTest, CustomTableCarriesEveryEventType) {
  IntegrationConfig c;
  c.company_id = kCompany;
  c.name = "table";
  c.workspace_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  c.primary_key = kPrimaryKey;
  c.events = Hits();
  c.events.system = true;
  c.table = "Wallarm";
  uint64_t id = registry_->Create(c)->id;
  ASSERT_TRUE(Ingest(kCompany, EventType::kHit, R"({"event_type":"hit"})").ok());
  ASSERT_TRUE(Ingest(kCompany, EventType::kUserCreated, R"({"event_type":"user_created"})").ok());
  auto q = Queued(id);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].first, "Wallarm");
  EXPECT_EQ(q[1].first, "Wallarm");
}

TEST_F(RegistryTest, DisablingNotifiesTheIntegrationItselfThroughItsNoticeLane) {
  uint64_t id = Create("self", System());
  auto disabled = registry_->SetEnabled(id, false);
  ASSERT_TRUE(disabled.ok());
  EXPECT_EQ(disabled->state, IntegrationState::kDisabled);
  EXPECT_TRUE(Queued(id).empty());
  auto own = Queued(NoticeLaneOf(id));
  ASSERT_EQ(own.size(), 1u);
  EXPECT_EQ(own[0].first, "disable_integration");
  ASSERT_FALSE(changed_.empty());
  EXPECT_EQ(changed_.back().state, IntegrationState::kDisabled);
  // Persisted.
  Reopen();
  EXPECT_EQ(registry_->Get(id)->state, IntegrationState::kDisabled);
}

TEST_F(RegistryTest, DeletingPurgesTheQueueAndKeepsTheLastNotice) {
  uint64_t id = Create("gone", System());
  uint64_t watcher = Create("watcher", System());
  ASSERT_TRUE(Ingest(kCompany, EventType::kUserDeleted, R"({"event_type":"user_deleted"})").ok());
  EXPECT_EQ(Queued(id).size(), 1u);
  ASSERT_TRUE(registry_->Delete(id).ok());
  EXPECT_TRUE(Queued(id).empty());
  EXPECT_EQ(store_->QueuedCount(id), 0u);
  auto own = Queued(NoticeLaneOf(id));
  ASSERT_EQ(own.size(), 1u);
  EXPECT_EQ(own[0].first, "delete_integration");
  auto w = Queued(watcher);
  ASSERT_EQ(w.size(), 2u);  // user_deleted + the deletion notice
  EXPECT_EQ(w[1].first, "delete_integration");
  EXPECT_FALSE(registry_->Get(id).ok());
  EXPECT_EQ(registry_->List().size(), 1u);
  // New events no longer reach it.
  ASSERT_TRUE(Ingest(kCompany, EventType::kUserDeleted, R"({"event_type":"user_deleted"})").ok());
  EXPECT_TRUE(Queued(id).empty());
  // Once its last notice went, it disappears for good.
  registry_->OnDrained(id);
  ASSERT_EQ(removed_.size(), 1u);
  EXPECT_EQ(removed_[0], id);
  Reopen();
  EXPECT_EQ(registry_->All().size(), 1u);
  EXPECT_TRUE(Queued(NoticeLaneOf(id)).empty());
}

TEST_F(RegistryTest, BrokenStateAndNoticesJoinTheCallersBatch) {
  uint64_t id = Create("failing", Hits());
  uint64_t watcher = Create("watcher", System());
  Changes changes = store_->NewChanges();
  registry_->OnBroken(*registry_->Get(id), clock_.NowMs(), changes);
  EXPECT_EQ(registry_->Get(id)->state, IntegrationState::kBroken);
  EXPECT_TRUE(Queued(watcher).empty());  // nothing is written until the batch is
  ASSERT_TRUE(store_->Apply(std::move(changes)).ok());
  auto w = Queued(watcher);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].first, "integration_broken");
  // A broken integration still queues (parks) new events.
  ASSERT_TRUE(Ingest(kCompany, EventType::kHit, R"({"event_type":"hit"})").ok());
  EXPECT_EQ(Queued(id).size(), 1u);
  Reopen();
  EXPECT_EQ(registry_->Get(id)->state, IntegrationState::kBroken);
}

TEST_F(RegistryTest, UpdateChecksTheVersionAndKeepsState) {
  uint64_t id = Create("v", Hits());
  IntegrationConfig c = *registry_->Get(id);
  c.name = "renamed";
  auto updated = registry_->Update(id, c);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->version, 2u);
  EXPECT_EQ(updated->name, "renamed");
  c.name = "stale";  // still at version 1
  EXPECT_EQ(registry_->Update(id, c).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(RegistryTest, SecretsNeverReachTheDiskInClear) {
  Create("secret", Hits());
  Reopen();  // flushes and reopens: records in the WAL and SST files
  ASSERT_TRUE(store_->Flush().ok());
  std::string decoded = *Base64Decode(kPrimaryKey);
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ++files;
    EXPECT_FALSE(absl::StrContains(bytes, kPrimaryKey)) << entry.path();
    EXPECT_FALSE(absl::StrContains(bytes, decoded)) << entry.path();
  }
  EXPECT_GT(files, 3);
}

class HourlyReportTest : public RegistryTest {};

TEST_F(HourlyReportTest, ReportsEachHourExactlyOnceAcrossRestarts) {
  Selection s;
  s.hourly_report = true;
  uint64_t id = Create("hourly", s);
  clock_.Set(HourOf(clock_.NowMs()) * kHourMs + 10 * kMinuteMs);  // 00:10 of hour H
  const int64_t h = HourOf(clock_.NowMs());
  {
    HourlyReporter reporter(store_.get(), registry_.get(), &clock_);
    EXPECT_EQ(*reporter.Tick(), 1u);  // first run: hour H-1 (0 requests)
    ASSERT_TRUE(reporter.AddRequestCount(kCompany, 100, clock_.NowMs()).ok());
    ASSERT_TRUE(reporter.AddRequestCount(kCompany, 23, clock_.NowMs() + 40 * kMinuteMs).ok());
    ASSERT_TRUE(reporter.AddRequestCount(kCompany + 1, 5, clock_.NowMs()).ok());
    EXPECT_EQ(*reporter.Tick(), 0u);  // hour H is not over
    clock_.Advance(1 * kHourMs);
    EXPECT_EQ(*reporter.Tick(), 1u);
    EXPECT_EQ(*reporter.Tick(), 0u);
  }
  Reopen();
  HourlyReporter reporter(store_.get(), registry_.get(), &clock_);
  EXPECT_EQ(*reporter.Tick(), 0u);  // a restart does not report again
  auto q = Queued(id);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[1].first, "requests_per_hour");
  EXPECT_EQ(q[1].second, HourlyReporter::ReportJson(kCompany, h, 123));
  EXPECT_TRUE(absl::StrContains(q[1].second, R"("requests":123)"));
  // Three hours later, the missed hours are reported, each once.
  clock_.Advance(3 * kHourMs);
  EXPECT_EQ(*reporter.Tick(), 3u);
}

}  // namespace
}  // namespace outboxd
