// What ingest does when the store refuses a write (disk full, I/O error):
// the request gets 503 naming the cause, every refusal is counted in the
// metrics, and the log gets one line per interval, not one per request.
// The failing disk is tests/crash's PowerLossFs with the power cut: every
// write fails with an IOError, as on a disk that went away.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "api/ingest_parser.h"
#include "crash/power_loss_fs.h"
#include "fakes/temp_dir.h"
#include "outboxd/log.h"
#include "rocksdb/env.h"
#include "service/registry.h"
#include "service/service_fixture.h"
#include "service/service_impl.h"

namespace outboxd {
namespace {

constexpr uint64_t kCompany = 9;

class IngestErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = std::make_shared<PowerLossFs>(rocksdb::FileSystem::Default());
    env_ = rocksdb::NewCompositeEnv(fs_);
    StoreOptions o;
    o.path = dir_.Sub("outbox");
    o.sync = false;
    o.env = env_.get();
    auto store = OutboxStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    box_ = testing::TestSecretBox();
    registry_ = std::make_unique<Registry>(store_.get(), &clock_,
                                           testing::TestRecordCodec(box_.get()));
    ASSERT_TRUE(registry_->Load().ok());
    IntegrationConfig c;
    c.company_id = kCompany;
    c.name = "hits";
    c.workspace_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    c.primary_key = "b3V0Ym94ZC10ZXN0LXByaW1hcnkta2V5LTAxMjM0NTY3ODk=";
    c.events.hits = true;
    ASSERT_TRUE(registry_->Create(c).ok());
    service_ = std::make_unique<ServiceImpl>(store_.get(), registry_.get(), nullptr, &clock_,
                                             LoopAccess{}, ServiceOptions{});
    SetLogSinkForTest(&log_);
  }
  void TearDown() override {
    SetLogSinkForTest(nullptr);
    service_.reset();
    registry_.reset();
    store_.reset();  // its last writes fail with the power cut: dropped
  }

  absl::Status IngestOne() {
    ParsedEvent e;
    e.raw = R"({"id":"h","company_id":9,"type":"hit"})";
    e.company_id = kCompany;
    e.facts.type = EventType::kHit;
    std::vector<ParsedEvent> events;
    events.push_back(std::move(e));
    return service_->Ingest(std::move(events)).status();
  }

  size_t LogLines(std::string_view msg) const {
    size_t n = 0;
    for (size_t at = log_.find(msg); at != std::string::npos; at = log_.find(msg, at + 1)) ++n;
    return n;
  }

  TempDir dir_;
  FakeClock clock_{1'800'000'000'000};
  std::shared_ptr<PowerLossFs> fs_;
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<SecretBox> box_;
  std::unique_ptr<OutboxStore> store_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<ServiceImpl> service_;
  std::string log_;
};

TEST_F(IngestErrorsTest, FailedWritesAre503CountedAndLoggedOncePerInterval) {
  ASSERT_TRUE(IngestOne().ok());
  fs_->CutPower();
  for (int i = 0; i < 50; ++i) {
    absl::Status refused = IngestOne();
    ASSERT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
    EXPECT_NE(refused.message().find("cannot store events"), std::string_view::npos) << refused;
  }
  EXPECT_EQ(LogLines("ingest write failed"), 1u) << log_;
  EXPECT_EQ(service_->ingest_counters().write_errors.load(), 50u);

  // Ten seconds later the next failure is logged with the count left out.
  clock_.Advance(10'000);
  EXPECT_EQ(IngestOne().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(LogLines("ingest write failed"), 2u) << log_;
  EXPECT_NE(log_.find("similar_errors_not_logged=49"), std::string::npos) << log_;
}

}  // namespace
}  // namespace outboxd
