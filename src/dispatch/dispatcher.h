// The dispatcher: scans due deliveries per integration, sends them in
// batches through a Transport, and commits what each answer means — in one
// store batch, together with the health statistics and, when the failure
// rule trips, the integration's new state and its system notices.
//
// Threading: every method runs on one loop thread (the transport's). It
// never sleeps and never waits for an fsync (the Committer does). The
// driver (DispatcherDriver) calls Pump() when NextWakeMs() passes or when
// something was written; tests call it directly with a FakeClock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "dispatch/answer_plan.h"
#include "dispatch/batcher.h"
#include "dispatch/committer.h"
#include "outboxd/clock.h"
#include "outboxd/destination.h"
#include "outboxd/health.h"
#include "outboxd/integration.h"
#include "outboxd/log.h"
#include "outboxd/retry.h"
#include "outboxd/store.h"
#include "outboxd/transport.h"

namespace outboxd {

struct DispatcherOptions {
  RetryPolicy retry;
  HealthOptions health;
  uint32_t max_in_flight = 8192;                // requests, all integrations
  uint32_t max_in_flight_per_integration = 16;  // one slow destination can't take all
  uint64_t max_held_bytes = 256ull << 20;       // deliveries held in memory, all
  uint32_t scan_chunk = 4096;                   // deliveries per store scan
  // After a failed commit (disk full, I/O error) the lane waits before it
  // rescans and resends: first this long, doubling per consecutive failure
  // up to commit_backoff_max_ms. Without it a store that cannot write would
  // have the same records sent again as fast as the receiver answers.
  TimeMs commit_backoff_ms = 1'000;
  TimeMs commit_backoff_max_ms = 60'000;
  BatchLimits batch;                            // tightened by each destination
  // Outcome writes under way at once; answers that come while this many
  // are running wait for one to complete and go together, up to
  // max_answers_per_commit in one write.
  uint32_t max_commits_running = 2;
  uint32_t max_answers_per_commit = 256;
};

// What the dispatcher needs from whoever owns integration configurations.
class DispatcherHooks {
 public:
  virtual ~DispatcherHooks() = default;
  // The failure rule tripped for `integration` (state still as before). Add
  // to `changes` its record in state broken and the `integration_broken`
  // notices for the company; they are applied in the same batch as the
  // answer that tripped it.
  virtual void OnBroken(const IntegrationConfig& integration, TimeMs now,
                        Changes& changes) = 0;
  // An integration in state `deleting` has nothing queued any more.
  virtual void OnDrained(uint64_t integration_id) = 0;
};

using DestinationFactory = std::function<absl::StatusOr<std::unique_ptr<Destination>>(
    const IntegrationConfig&)>;

// Counters readable from any thread (metrics).
struct DispatcherCounters {
  std::atomic<uint64_t> requests_2xx{0}, requests_4xx{0}, requests_5xx{0},
      requests_other{0}, requests_failed_transport{0};
  std::atomic<uint64_t> delivered{0}, retried{0}, dead{0}, bisected{0}, broken{0};
  std::atomic<uint64_t> in_flight{0}, peak_in_flight{0}, held_bytes{0};
  std::atomic<uint64_t> commit_errors{0};
  // Answers whose outcome is not written yet, and store writes of
  // outcomes (each carries one or more answers).
  std::atomic<uint64_t> outcomes_pending{0};
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> paced{0};  // requests held back by a destination's pacing
};

class Dispatcher {
 public:
  Dispatcher(OutboxStore* store, Transport* transport, Clock* clock,
             DestinationFactory destinations, DispatcherHooks* hooks, Committer* committer,
             DispatcherOptions options);
  ~Dispatcher();

  // Rebuilds the health windows from the store's `stats`.
  absl::Status Start();

  // Adds or updates an integration (state changes included), with its
  // notice lane. Enabling a broken or disabled integration clears its health
  // window in memory (the caller clears the stored one) and resumes its
  // queue. A `deleting` integration whose lanes are empty is reported to
  // DispatcherHooks::OnDrained (possibly from inside this call).
  void SetIntegration(const IntegrationConfig& config);
  // Forgets an integration and its notice lane (after they were purged).
  void RemoveIntegration(uint64_t integration_id);

  // Scans what is due now and sends what is ready. Re-entrant calls fold
  // into the running one.
  void Pump();
  // From now on nothing new is sent (shutdown); answers still commit, but
  // a request that ends without an answer (cancelled) changes nothing.
  // Outcomes waiting for a group go to the committer now, and later ones
  // go at once: no completion hands the committer more work after this.
  void Stop();
  // When Pump should run next (kNoDue: only when something happens).
  // O(log integrations): lanes sit in a set ordered by their wake time,
  // updated only for the lanes something happened to.
  TimeMs NextWakeMs();
  // Runs after every outermost Pump (the driver re-arms its timer there).
  void set_after_pump(std::function<void()> fn) { after_pump_ = std::move(fn); }

  // The integration's health window totals as of now (zero when unknown).
  HealthTotals Health(uint64_t integration_id);
  const DispatcherCounters& counters() const { return counters_; }
  // Requests in flight for one integration.
  uint32_t InFlight(uint64_t integration_id) const;

 private:
  struct Lane;
  struct Flight;
  struct CommitGroup;

  Lane* FindLane(uint64_t id);
  void SetLane(uint64_t lane_id, const IntegrationConfig& config, bool notice);
  void MaybeDrained(uint64_t integration_id);
  void PumpOnce(TimeMs now);
  // A lane's state changed (answer, pause, configuration): its wake time is
  // recomputed before the next pump or NextWakeMs.
  void Touch(uint64_t lane_id) { touched_.insert(lane_id); }
  // Recomputes the wake times of the touched lanes and of the lanes whose
  // due time the store reports changed.
  void RefreshWakes();
  void Reschedule(Lane& lane);
  TimeMs LaneWake(const Lane& lane) const;
  void Fill(Lane& lane, TimeMs now);
  void SendReady(Lane& lane, TimeMs now);
  void Send(Lane& lane, std::vector<Delivery> batch, TimeMs now);
  void OnResponse(std::shared_ptr<Flight> flight, HttpResponse response);
  void OnAnswer(Lane& lane, std::shared_ptr<Flight> flight, int status, const Answer& answer);
  void LogAnswer(Lane& lane, const Flight& flight, int status, const Answer& answer, bool failure,
                 TimeMs now);
  void AddPlanToChanges(Lane& lane, const Flight& flight, const AnswerPlan& plan,
                        int status, const Answer& answer, TimeMs now, Changes& changes);
  // Outcomes are written in groups: an answer adds its changes to the open
  // group (OpenCommit) and closes (CloseAnswer) with the deliveries that
  // the write settles. A group goes to the committer at once while fewer
  // than max_commits_running are being written; else it collects the
  // answers that come meanwhile and goes when a write completes. Under load
  // one store write then carries many answers instead of each waiting for
  // its own turn in the store's write queue.
  Changes& OpenCommit();
  void CloseAnswer(uint64_t lane_id, std::vector<Delivery> deliveries);
  void SubmitCommit();
  // Settle, then Pump.
  void Finish(uint64_t lane_id, std::vector<Delivery> deliveries, absl::Status status);
  // The deliveries' outcome was written (or failed to be): they are no
  // longer held, and a failure backs the lane off. Returns the backoff (0
  // when written).
  TimeMs Settle(uint64_t lane_id, std::vector<Delivery> deliveries,
                const absl::Status& status);
  // One line per failed outcome write (at most one per 10 s, counting
  // those left out), and one when writes succeed again.
  void LogCommit(const CommitGroup& group, const absl::Status& status,
                 TimeMs retry_in_ms);
  void BuryOversized(Lane& lane, std::vector<Delivery> deliveries, TimeMs now);
  void Release(Lane& lane, const std::vector<Delivery>& deliveries);
  void Park(Lane& lane);
  void CountStatus(int status);
  HealthWindow& WindowOf(uint64_t integration_id);

  OutboxStore* store_;
  Transport* transport_;
  Clock* clock_;
  DestinationFactory destinations_;
  DispatcherHooks* hooks_;
  Committer* committer_;
  DispatcherOptions options_;

  absl::flat_hash_map<uint64_t, std::unique_ptr<Lane>> lanes_;
  absl::flat_hash_map<uint64_t, HealthWindow> health_;
  absl::flat_hash_map<uint64_t, IntegrationState> owner_state_;  // by integration id
  uint32_t in_flight_ = 0;
  uint64_t held_bytes_ = 0;
  std::unique_ptr<CommitGroup> open_commit_;  // null: no answer waiting
  uint32_t commits_running_ = 0;
  bool commits_failing_ = false;
  LogThrottle commit_failure_log_;
  // (wake, lane id) of every lane that can send and has something due or
  // batched; a lane's Lane::wake is its key here (kNoDue: absent).
  std::set<std::pair<TimeMs, uint64_t>> wakes_;
  absl::flat_hash_set<uint64_t> touched_;
  bool pumping_ = false;
  bool stopped_ = false;
  bool pump_again_ = false;
  std::function<void()> after_pump_;
  std::shared_ptr<bool> alive_;  // callbacks check it after the dispatcher is gone
  DispatcherCounters counters_;
};

}  // namespace outboxd
