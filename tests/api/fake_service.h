// An in-memory Service for the API tests: integrations in a map, events in
// a vector, scripted failures, and an optional gate that holds Ingest until
// the test opens it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "api/service.h"
#include "outboxd/mutex.h"

namespace outboxd {

class FakeService final : public Service {
 public:
  ~FakeService() override {
    for (std::thread& t : test_threads_) t.join();
  }

  absl::StatusOr<IngestResult> Ingest(std::vector<ParsedEvent> events) override {
    MutexLock lock(&mu_);
    ++ingest_calls_entered_;
    mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !ingest_held_; });
    if (!ingest_status_.ok()) return ingest_status_;
    IngestResult result{events.size(), events.size() * deliveries_per_event_};
    for (ParsedEvent& e : events) {
      // The event's bytes live in the caller's parse result: keep a copy.
      raw_copies_.emplace_back(e.raw);
      e.raw = raw_copies_.back();
      events_.push_back(std::move(e));
    }
    return result;
  }

  absl::Status AddRequestCount(uint64_t company_id, uint64_t count, TimeMs at) override {
    MutexLock lock(&mu_);
    request_counts_.push_back({company_id, count, at});
    return absl::OkStatus();
  }

  absl::StatusOr<IntegrationConfig> CreateIntegration(IntegrationConfig config) override {
    MutexLock lock(&mu_);
    config.id = next_id_++;
    config.created_ms = config.updated_ms = 1'700'000'000'000;
    config.version = 1;
    integrations_[config.id] = config;
    return config;
  }

  std::vector<IntegrationConfig> ListIntegrations() override {
    MutexLock lock(&mu_);
    std::vector<IntegrationConfig> out;
    for (const auto& [id, c] : integrations_) out.push_back(c);
    return out;
  }

  absl::StatusOr<IntegrationConfig> GetIntegration(uint64_t id) override {
    MutexLock lock(&mu_);
    auto it = integrations_.find(id);
    if (it == integrations_.end())
      return absl::NotFoundError(absl::StrCat("no integration ", id));
    return it->second;
  }

  absl::StatusOr<IntegrationConfig> UpdateIntegration(
      uint64_t id, IntegrationConfig updated) override {
    MutexLock lock(&mu_);
    if (!update_status_.ok()) return update_status_;
    auto it = integrations_.find(id);
    if (it == integrations_.end())
      return absl::NotFoundError(absl::StrCat("no integration ", id));
    if (it->second.version != updated.version) {
      return absl::FailedPreconditionError("integration changed meanwhile");
    }
    updated.version++;
    it->second = updated;
    return updated;
  }

  absl::Status DeleteIntegration(uint64_t id) override {
    MutexLock lock(&mu_);
    if (integrations_.erase(id) == 0)
      return absl::NotFoundError(absl::StrCat("no integration ", id));
    return absl::OkStatus();
  }

  absl::StatusOr<IntegrationConfig> SetEnabled(uint64_t id, bool enabled) override {
    MutexLock lock(&mu_);
    auto it = integrations_.find(id);
    if (it == integrations_.end())
      return absl::NotFoundError(absl::StrCat("no integration ", id));
    it->second.state = enabled ? IntegrationState::kEnabled : IntegrationState::kDisabled;
    return it->second;
  }

  // Answers from another thread, as a real destination's callback would.
  void TestIntegration(IntegrationConfig config,
                       std::function<void(absl::StatusOr<TestResult>)> done) override {
    MutexLock lock(&mu_);
    tested_.push_back(config);
    absl::StatusOr<TestResult> result = test_result_;
    test_threads_.emplace_back([done = std::move(done), result] { done(result); });
  }

  absl::StatusOr<IntegrationStatsView> Stats(uint64_t id) override {
    MutexLock lock(&mu_);
    if (!integrations_.contains(id))
      return absl::NotFoundError(absl::StrCat("no integration ", id));
    return stats_;
  }

  // Dead deliveries live in a per-integration list set by AddDead.
  absl::StatusOr<std::vector<DeadDelivery>> ListDead(uint64_t id, size_t limit) override {
    MutexLock lock(&mu_);
    if (!integrations_.contains(id))
      return absl::NotFoundError(absl::StrCat("no integration ", id));
    std::vector<DeadDelivery> out = dead_[id];
    if (out.size() > limit) out.resize(limit);
    return out;
  }

  absl::StatusOr<ReplayResult> ReplayDead(uint64_t id,
                                          std::vector<uint64_t> seqs) override {
    MutexLock lock(&mu_);
    if (!integrations_.contains(id))
      return absl::NotFoundError(absl::StrCat("no integration ", id));
    replay_calls_.push_back(seqs);
    ReplayResult result;
    std::vector<DeadDelivery>& dead = dead_[id];
    for (auto it = dead.begin(); it != dead.end();) {
      const bool wanted = seqs.empty() || std::find(seqs.begin(), seqs.end(),
                                                    it->delivery.key.seq) != seqs.end();
      if (!wanted) {
        ++it;
        continue;
      }
      ++result.replayed;
      it = dead.erase(it);
    }
    return result;
  }

  std::string Metrics() override { return "outboxd_fake_up 1\n"; }
  bool Healthy() override { return healthy_.load(); }

  // --- test controls ---
  struct Count {
    uint64_t company_id;
    uint64_t count;
    TimeMs at;
  };

  void SetIngestStatus(absl::Status s) {
    MutexLock lock(&mu_);
    ingest_status_ = std::move(s);
  }
  void SetUpdateStatus(absl::Status s) {
    MutexLock lock(&mu_);
    update_status_ = std::move(s);
  }
  void HoldIngest(bool hold) {
    MutexLock lock(&mu_);
    ingest_held_ = hold;
  }
  // Blocks until `n` Ingest calls have started.
  void AwaitIngestCalls(int n) {
    MutexLock lock(&mu_);
    mu_.Await([this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return ingest_calls_entered_ >= n;
    });
  }
  void SetTestResult(absl::StatusOr<TestResult> r) {
    MutexLock lock(&mu_);
    test_result_ = std::move(r);
  }
  void SetStats(IntegrationStatsView s) {
    MutexLock lock(&mu_);
    stats_ = s;
  }
  void SetHealthy(bool healthy) { healthy_.store(healthy); }
  void AddDead(uint64_t id, DeadDelivery d) {
    MutexLock lock(&mu_);
    dead_[id].push_back(std::move(d));
  }
  std::vector<std::vector<uint64_t>> replay_calls() {
    MutexLock lock(&mu_);
    return replay_calls_;
  }

  std::vector<ParsedEvent> events() {
    MutexLock lock(&mu_);
    return events_;
  }
  std::vector<Count> request_counts() {
    MutexLock lock(&mu_);
    return request_counts_;
  }
  std::vector<IntegrationConfig> tested() {
    MutexLock lock(&mu_);
    return tested_;
  }

 private:
  Mutex mu_;
  std::map<uint64_t, IntegrationConfig> integrations_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<ParsedEvent> events_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> raw_copies_ ABSL_GUARDED_BY(mu_);  // what events_ point into
  std::vector<Count> request_counts_ ABSL_GUARDED_BY(mu_);
  std::vector<IntegrationConfig> tested_ ABSL_GUARDED_BY(mu_);
  absl::Status ingest_status_ ABSL_GUARDED_BY(mu_);
  absl::Status update_status_ ABSL_GUARDED_BY(mu_);
  bool ingest_held_ ABSL_GUARDED_BY(mu_) = false;
  int ingest_calls_entered_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t deliveries_per_event_ = 2;
  absl::StatusOr<TestResult> test_result_ ABSL_GUARDED_BY(mu_) = TestResult{
      true, 200, "", "accepted", 42};
  IntegrationStatsView stats_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::vector<DeadDelivery>> dead_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<uint64_t>> replay_calls_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> healthy_{true};
  std::vector<std::thread> test_threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace outboxd
