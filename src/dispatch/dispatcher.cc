#include "dispatch/dispatcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "outboxd/crash_point.h"
#include "outboxd/log.h"

namespace outboxd {

struct Dispatcher::Lane {
  explicit Lane(BatchLimits limits) : batcher(limits) {}
  bool Delivers() const { return config.Delivers() && destination != nullptr; }

  IntegrationConfig config;
  std::unique_ptr<Destination> destination;
  Batcher batcher;
  // (due, seq) of every delivery handed out by the store and not finished:
  // queued in the batcher, in flight, or being committed. A rescan after a
  // cursor rewind skips them.
  absl::flat_hash_set<std::pair<TimeMs, uint64_t>> held;
  uint32_t in_flight = 0;
  bool notice = false;  // a notice lane (see kNoticeLaneBit)
  // Nothing is scanned or sent before this time: the destination's pacing
  // or the backoff after failed commits.
  TimeMs paused_until = 0;
  uint32_t commit_failures = 0;  // consecutive
  // A destination that is down fails every request: one "request failed"
  // line per interval, and one line when requests succeed again.
  LogThrottle failure_log;
  uint64_t failed_in_a_row = 0;
  TimeMs wake = kNoDue;  // its key in Dispatcher::wakes_ (kNoDue: absent)
};

struct Dispatcher::Flight {
  uint64_t lane_id = 0;
  std::vector<Delivery> deliveries;
  TimeMs sent_ms = 0;
};

namespace {
std::pair<TimeMs, uint64_t> HeldKey(const Delivery& d) { return {d.key.due_ms, d.key.seq}; }
}  // namespace

Dispatcher::Dispatcher(OutboxStore* store, Transport* transport, Clock* clock,
                       DestinationFactory destinations, DispatcherHooks* hooks,
                       Committer* committer, DispatcherOptions options)
    : store_(store),
      transport_(transport),
      clock_(clock),
      destinations_(std::move(destinations)),
      hooks_(hooks),
      committer_(committer),
      options_(options),
      alive_(std::make_shared<bool>(true)) {}

Dispatcher::~Dispatcher() { *alive_ = false; }

absl::Status Dispatcher::Start() {
  int64_t since = MinuteOf(clock_->NowMs() - options_.health.window_ms);
  return store_->ForEachStatsBucket(since, [&](const StatsBucket& b) {
    WindowOf(b.integration_id).Add(b.minute, b.requests, b.failures);
  });
}

HealthWindow& Dispatcher::WindowOf(uint64_t integration_id) {
  return health_.try_emplace(integration_id, options_.health).first->second;
}

Dispatcher::Lane* Dispatcher::FindLane(uint64_t id) {
  auto it = lanes_.find(id);
  return it == lanes_.end() ? nullptr : it->second.get();
}

void Dispatcher::SetIntegration(const IntegrationConfig& config) {
  SetLane(config.id, config, /*notice=*/false);
  // The notice lane delivers the integration's own last notices whatever
  // its state; it is never parked and never trips the failure rule.
  IntegrationConfig notice = config;
  notice.id = NoticeLaneOf(config.id);
  notice.state = IntegrationState::kEnabled;
  SetLane(notice.id, notice, /*notice=*/true);
  owner_state_[config.id] = config.state;
  MaybeDrained(config.id);
}

void Dispatcher::SetLane(uint64_t lane_id, const IntegrationConfig& config, bool notice) {
  auto [it, inserted] = lanes_.try_emplace(lane_id, nullptr);
  if (inserted) it->second = std::make_unique<Lane>(options_.batch);
  Lane& lane = *it->second;
  lane.notice = notice;
  bool was_delivering = !inserted && lane.Delivers();
  IntegrationState old_state = lane.config.state;
  bool rebuild = inserted || lane.config.version != config.version || !lane.destination;
  lane.config = config;
  if (rebuild) {
    auto destination = destinations_(config);
    if (!destination.ok()) {
      Log(LogLevel::kError, "integration cannot deliver: bad configuration",
          {{"integration", IntegrationOfLane(lane_id)},
           {"error", destination.status().ToString()}});
      lane.destination.reset();
    } else {
      lane.destination = std::move(*destination);
      lane.batcher.set_limits(EffectiveLimits(lane.destination->limits(), options_.batch));
    }
  }
  if (!lane.Delivers()) {
    Park(lane);
  } else if (!was_delivering) {
    if (!inserted && old_state != IntegrationState::kEnabled &&
        config.state == IntegrationState::kEnabled) {
      WindowOf(lane_id).Clear();  // enabling starts a fresh window
    }
    store_->ResetCursor(lane_id);
  }
  Touch(lane_id);
}

void Dispatcher::MaybeDrained(uint64_t integration_id) {
  auto state = owner_state_.find(integration_id);
  if (state == owner_state_.end() || state->second != IntegrationState::kDeleting) return;
  for (uint64_t lane_id : {integration_id, NoticeLaneOf(integration_id)}) {
    Lane* lane = FindLane(lane_id);
    if (lane != nullptr && lane->in_flight > 0) return;
    if (store_->QueuedCount(lane_id) > 0) return;
  }
  hooks_->OnDrained(integration_id);
}

void Dispatcher::RemoveIntegration(uint64_t integration_id) {
  for (uint64_t lane_id : {integration_id, NoticeLaneOf(integration_id)}) {
    Lane* lane = FindLane(lane_id);
    if (lane == nullptr) continue;
    Release(*lane, lane->batcher.Drain());
    if (lane->wake != kNoDue) wakes_.erase({lane->wake, lane_id});
    lanes_.erase(lane_id);
    health_.erase(lane_id);
  }
  owner_state_.erase(integration_id);
}

void Dispatcher::Release(Lane& lane, const std::vector<Delivery>& deliveries) {
  for (const Delivery& d : deliveries) {
    lane.held.erase(HeldKey(d));
    held_bytes_ -= d.event.size();
  }
  counters_.held_bytes.store(held_bytes_, std::memory_order_relaxed);
}

void Dispatcher::Park(Lane& lane) {
  Release(lane, lane.batcher.Drain());
  // What was dropped from memory is still in the store: scan it again from
  // the start once the integration delivers.
  store_->ResetCursor(lane.config.id);
  Touch(lane.config.id);
}

void Dispatcher::Pump() {
  if (stopped_) return;
  if (pumping_) {
    pump_again_ = true;
    return;
  }
  pumping_ = true;
  do {
    pump_again_ = false;
    PumpOnce(clock_->NowMs());
  } while (pump_again_);
  pumping_ = false;
  if (after_pump_) after_pump_();
}

void Dispatcher::PumpOnce(TimeMs now) {
  RefreshWakes();
  // Lanes in order of their wake time: the one that waited longest goes
  // first when the global cap on requests in flight is reached. Each lane
  // leaves the set while it is served and gets its new wake time after.
  std::vector<uint64_t> served;
  while (in_flight_ < options_.max_in_flight && !wakes_.empty() &&
         wakes_.begin()->first <= now) {
    const uint64_t id = wakes_.begin()->second;
    wakes_.erase(wakes_.begin());
    Lane& lane = *lanes_.at(id);
    lane.wake = kNoDue;
    served.push_back(id);
    Fill(lane, now);
    SendReady(lane, now);
  }
  for (uint64_t id : served) Touch(id);
  RefreshWakes();
}

TimeMs Dispatcher::LaneWake(const Lane& lane) const {
  if (!lane.Delivers() || lane.in_flight >= options_.max_in_flight_per_integration)
    return kNoDue;  // an answer or a configuration change touches it
  TimeMs wake = std::min(store_->NextDue(lane.config.id), lane.batcher.ReadyAt());
  if (wake != kNoDue) wake = std::max(wake, lane.paused_until);
  return wake;
}

void Dispatcher::Reschedule(Lane& lane) {
  const TimeMs wake = LaneWake(lane);
  if (wake == lane.wake) return;
  if (lane.wake != kNoDue) wakes_.erase({lane.wake, lane.config.id});
  lane.wake = wake;
  if (wake != kNoDue) wakes_.emplace(wake, lane.config.id);
}

void Dispatcher::RefreshWakes() {
  for (uint64_t id : store_->TakeDueChanges()) touched_.insert(id);
  for (uint64_t id : touched_) {
    if (Lane* lane = FindLane(id)) Reschedule(*lane);
  }
  touched_.clear();
}

void Dispatcher::Fill(Lane& lane, TimeMs now) {
  const uint32_t cap = options_.max_in_flight_per_integration;
  if (lane.in_flight >= cap) return;
  const size_t want = size_t{cap - lane.in_flight} * lane.batcher.limits().max_records;
  while (lane.batcher.size() < want && held_bytes_ < options_.max_held_bytes) {
    size_t ask = std::min<size_t>(want - lane.batcher.size(), options_.scan_chunk);
    auto scanned = store_->ScanDue(lane.config.id, now, ask, [&](Delivery&& d) {
      if (!lane.held.insert(HeldKey(d)).second) return;  // already ours
      held_bytes_ += d.event.size();
      lane.batcher.Add(std::move(d));
    });
    if (!scanned.ok()) {
      Log(LogLevel::kError, "scan failed",
          {{"integration", lane.config.id}, {"error", scanned.status().ToString()}});
      break;
    }
    if (*scanned < ask) break;  // nothing more is due
  }
  counters_.held_bytes.store(held_bytes_, std::memory_order_relaxed);
}

void Dispatcher::SendReady(Lane& lane, TimeMs now) {
  while (lane.in_flight < options_.max_in_flight_per_integration &&
         in_flight_ < options_.max_in_flight && lane.Delivers()) {
    std::vector<Delivery> oversized;
    std::vector<Delivery> batch = lane.batcher.Next(now, /*flush=*/false, &oversized);
    if (!oversized.empty()) BuryOversized(lane, std::move(oversized), now);
    if (batch.empty()) break;
    uint64_t bytes = 0;
    for (const Delivery& d : batch) bytes += d.event.size();
    if (std::optional<TimeMs> wait =
            lane.destination->PaceDelay(ArrayBodyBytes(bytes, batch.size()), now)) {
      lane.paused_until = now + std::max<TimeMs>(*wait, 1);
      lane.batcher.AddFront(std::move(batch));
      counters_.paced.fetch_add(1, std::memory_order_relaxed);
      break;
    }
    Send(lane, std::move(batch), now);
  }
}

void Dispatcher::Send(Lane& lane, std::vector<Delivery> batch, TimeMs now) {
  auto flight = std::make_shared<Flight>();
  flight->lane_id = lane.config.id;
  flight->deliveries = std::move(batch);
  flight->sent_ms = now;
  ++lane.in_flight;
  ++in_flight_;
  counters_.in_flight.store(in_flight_, std::memory_order_relaxed);
  if (in_flight_ > counters_.peak_in_flight.load(std::memory_order_relaxed))
    counters_.peak_in_flight.store(in_flight_, std::memory_order_relaxed);

  std::vector<std::string_view> records;
  records.reserve(flight->deliveries.size());
  for (const Delivery& d : flight->deliveries) records.push_back(d.event);
  BatchView view{flight->deliveries.front().log_type, records};
  std::weak_ptr<bool> alive = alive_;
  lane.destination->BuildRequest(
      view, now, [this, alive, flight](absl::StatusOr<HttpRequest> request) {
        if (alive.expired()) return;
        if (!request.ok()) {
          HttpResponse failed;
          failed.transport_error = absl::StrCat("request not built: ", request.status().message());
          OnResponse(flight, std::move(failed));
          return;
        }
        request->tag = flight->lane_id;
        transport_->Send(std::move(*request), [this, alive, flight](HttpResponse response) {
          if (alive.expired()) return;
          OnResponse(flight, std::move(response));
        });
      });
}

void Dispatcher::CountStatus(int status) {
  auto& c = status == 0                    ? counters_.requests_failed_transport
            : status >= 200 && status < 300 ? counters_.requests_2xx
            : status >= 400 && status < 500 ? counters_.requests_4xx
            : status >= 500 && status < 600 ? counters_.requests_5xx
                                            : counters_.requests_other;
  c.fetch_add(1, std::memory_order_relaxed);
}

void Dispatcher::OnResponse(std::shared_ptr<Flight> flight, HttpResponse response) {
  --in_flight_;
  counters_.in_flight.store(in_flight_, std::memory_order_relaxed);
  CountStatus(response.status);
  Lane* lane = FindLane(flight->lane_id);
  if (lane == nullptr) {  // removed (purged) while in flight
    for (const Delivery& d : flight->deliveries) held_bytes_ -= d.event.size();
    counters_.held_bytes.store(held_bytes_, std::memory_order_relaxed);
    Pump();
    return;
  }
  --lane->in_flight;
  Touch(flight->lane_id);
  if (stopped_ && response.status == 0) {
    // Cancelled by the shutdown (or failed after it began): not an answer
    // from the destination. Nothing is committed, the deliveries stay
    // queued as they were and go again after the restart.
    Finish(flight->lane_id, std::move(flight->deliveries), absl::OkStatus());
    return;
  }
  TimeMs now = clock_->NowMs();
  Answer answer;
  if (lane->destination != nullptr) {
    answer = lane->destination->Classify(response, now);
  } else {
    answer.verdict = response.ok() ? Verdict::kDelivered : Verdict::kRetry;
    answer.error_code = response.transport_error;
  }
  OnAnswer(*lane, std::move(flight), response.status, answer);
  // The request slot is free now, not when the outcome is written: the
  // answered deliveries stay held until then, so the lane sends others.
  Pump();
}

void Dispatcher::LogAnswer(Lane& lane, const Flight& flight, int status, const Answer& answer,
                           bool failure, TimeMs now) {
  const uint64_t id = lane.config.id;
  uint64_t not_logged = 0;
  if (failure) {
    ++lane.failed_in_a_row;
    if (!lane.failure_log.Allow(now, &not_logged)) return;
  } else if (lane.failed_in_a_row > 0) {
    Log(LogLevel::kInfo, "requests succeed again",
        {{"integration", id}, {"failed_before", lane.failed_in_a_row},
         {"similar_errors_not_logged", lane.failure_log.Reset()}});
    lane.failed_in_a_row = 0;
  }
  LogLevel level = failure ? LogLevel::kWarn : LogLevel::kDebug;
  if (!LogEnabled(level)) return;
  Log(level, failure ? "request failed" : "request answered",
      {{"integration", id},
       {"log_type", flight.deliveries.front().log_type},
       {"records", flight.deliveries.size()},
       {"status", status},
       {"answer", DescribeAnswer(status, answer)},
       {"latency_ms", now - flight.sent_ms},
       {"failed_in_a_row", lane.failed_in_a_row},
       {"similar_errors_not_logged", not_logged}});
}

void Dispatcher::OnAnswer(Lane& lane, std::shared_ptr<Flight> flight, int status,
                          const Answer& answer) {
  const TimeMs now = clock_->NowMs();
  const uint64_t id = lane.config.id;
  AnswerPlan plan = PlanAnswer(flight->deliveries, answer, now, options_.retry);
  HealthWindow& window = WindowOf(id);
  window.Record(now, plan.failure);

  LogAnswer(lane, *flight, status, answer, plan.failure, now);

  Changes& changes = OpenCommit();
  changes.AddStats(id, MinuteOf(now), 1, plan.failure ? 1 : 0);
  std::vector<Delivery> finished;
  if (plan.kind == AnswerPlan::Kind::kBisect) {
    // The halves stay held in memory and go again right away; the store
    // keeps their keys until an answer settles each one.
    std::vector<Delivery>& all = flight->deliveries;
    size_t half = all.size() / 2;
    std::vector<Delivery> second(std::make_move_iterator(all.begin() + half),
                                 std::make_move_iterator(all.end()));
    all.resize(half);
    lane.batcher.AddFront(std::move(second));
    lane.batcher.AddFront(std::move(all));
    Touch(id);
    counters_.bisected.fetch_add(1, std::memory_order_relaxed);
  } else {
    auto owner = owner_state_.find(IntegrationOfLane(id));
    bool purged = !lane.notice && owner != owner_state_.end() &&
                  owner->second == IntegrationState::kDeleting;
    // A deleted integration's queue was purged while this request flew:
    // there is nothing left to remove or reschedule.
    if (!purged) AddPlanToChanges(lane, *flight, plan, status, answer, now, changes);
    finished = std::move(flight->deliveries);
  }

  if (plan.failure && !lane.notice && lane.config.state == IntegrationState::kEnabled &&
      window.Tripped(now)) {
    HealthTotals totals = window.Totals(now);
    hooks_->OnBroken(lane.config, now, changes);
    lane.config.state = IntegrationState::kBroken;
    owner_state_[id] = IntegrationState::kBroken;
    counters_.broken.fetch_add(1, std::memory_order_relaxed);
    Log(LogLevel::kWarn, "integration disabled by the failure rule",
        {{"integration", id},
         {"requests", totals.requests},
         {"failures", totals.failures},
         {"ratio", totals.ratio()},
         {"threshold", options_.health.threshold}});
    Park(lane);
  }

  // Crash points: the receiver has the records, the store does not know.
  OUTBOXD_CRASH_POINT("dispatch.answered.before_commit");
  if (plan.kind == AnswerPlan::Kind::kRetry) OUTBOXD_CRASH_POINT("dispatch.retry.before_commit");
  if (lane.config.state == IntegrationState::kBroken && plan.failure)
    OUTBOXD_CRASH_POINT("dispatch.broken.before_commit");
  CloseAnswer(id, std::move(finished));
}

void Dispatcher::AddPlanToChanges(Lane& lane, const Flight& flight, const AnswerPlan& plan,
                                  int status, const Answer& answer, TimeMs now,
                                  Changes& changes) {
  const std::vector<Delivery>& ds = flight.deliveries;
  switch (plan.kind) {
    case AnswerPlan::Kind::kDelivered: {
      std::vector<DeliveryKey> keys;
      keys.reserve(ds.size());
      for (const Delivery& d : ds) keys.push_back(d.key);
      changes.RemoveAll(std::move(keys));
      counters_.delivered.fetch_add(ds.size(), std::memory_order_relaxed);
      return;
    }
    case AnswerPlan::Kind::kDead: {
      std::string reason = absl::StrCat("rejected: ", DescribeAnswer(status, answer));
      for (const Delivery& d : ds) {
        changes.MoveToDead(d, reason, now);
        Log(LogLevel::kWarn, "delivery moved to dead",
            {{"integration", lane.config.id}, {"seq", d.key.seq}, {"reason", reason}});
      }
      counters_.dead.fetch_add(ds.size(), std::memory_order_relaxed);
      return;
    }
    case AnswerPlan::Kind::kRetry: {
      std::string reason;
      uint64_t dead = 0;
      for (const RetryStep& step : plan.retries) {
        const Delivery& d = ds[step.index];
        if (step.dead) {
          if (reason.empty()) {
            reason = absl::StrCat("max age exceeded; last answer: ", DescribeAnswer(status, answer));
          }
          changes.MoveToDead(d, reason, now);
          ++dead;
        } else {
          changes.Reschedule(d, step.due_ms, step.attempts);
          counters_.retried.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (dead > 0) {
        // One line per request, not per record: a batch of 1,000 expires at once.
        Log(LogLevel::kWarn, "deliveries moved to dead",
            {{"integration", lane.config.id}, {"records", dead}, {"reason", reason}});
        counters_.dead.fetch_add(dead, std::memory_order_relaxed);
      }
      return;
    }
    case AnswerPlan::Kind::kBisect:
      return;
  }
}

void Dispatcher::BuryOversized(Lane& lane, std::vector<Delivery> deliveries, TimeMs now) {
  Changes& changes = OpenCommit();
  for (const Delivery& d : deliveries) {
    std::string reason =
        absl::StrCat("record of ", d.event.size(), " bytes exceeds the request limit of ",
                     lane.batcher.limits().max_body_bytes, " bytes");
    changes.MoveToDead(d, reason, now);
    Log(LogLevel::kWarn, "delivery moved to dead",
        {{"integration", lane.config.id}, {"seq", d.key.seq}, {"reason", reason}});
  }
  counters_.dead.fetch_add(deliveries.size(), std::memory_order_relaxed);
  CloseAnswer(lane.config.id, std::move(deliveries));
}

struct Dispatcher::CommitGroup {
  explicit CommitGroup(Changes c) : changes(std::move(c)) {}
  Changes changes;
  // Per answer in the group: its lane and the deliveries it settles.
  std::vector<std::pair<uint64_t, std::vector<Delivery>>> answers;
};

Changes& Dispatcher::OpenCommit() {
  if (open_commit_ == nullptr)
    open_commit_ = std::make_unique<CommitGroup>(store_->NewChanges());
  return open_commit_->changes;
}

void Dispatcher::Stop() {
  stopped_ = true;
  if (open_commit_ != nullptr && !open_commit_->answers.empty()) SubmitCommit();
}

void Dispatcher::CloseAnswer(uint64_t lane_id, std::vector<Delivery> deliveries) {
  open_commit_->answers.emplace_back(lane_id, std::move(deliveries));
  counters_.outcomes_pending.fetch_add(1, std::memory_order_relaxed);
  if (stopped_ || commits_running_ < options_.max_commits_running ||
      open_commit_->answers.size() >= options_.max_answers_per_commit) {
    SubmitCommit();
  }
}

void Dispatcher::SubmitCommit() {
  std::shared_ptr<CommitGroup> group = std::move(open_commit_);
  ++commits_running_;
  counters_.commits.fetch_add(1, std::memory_order_relaxed);
  std::weak_ptr<bool> alive = alive_;
  Changes changes = std::move(group->changes);
  committer_->Commit(std::move(changes), [this, alive, group](absl::Status status) {
    if (alive.expired()) return;
    --commits_running_;
    counters_.outcomes_pending.fetch_sub(group->answers.size(),
                                         std::memory_order_relaxed);
    // What answered meanwhile goes next, before the settled lanes refill.
    if (open_commit_ != nullptr && !open_commit_->answers.empty()) SubmitCommit();
    TimeMs retry_in_ms = 0;
    for (auto& [lane_id, deliveries] : group->answers) {
      retry_in_ms = std::max(retry_in_ms, Settle(lane_id, std::move(deliveries), status));
    }
    LogCommit(*group, status, retry_in_ms);
    Pump();
  });
}

void Dispatcher::Finish(uint64_t lane_id, std::vector<Delivery> deliveries,
                        absl::Status status) {
  Settle(lane_id, std::move(deliveries), std::move(status));
  Pump();
}

void Dispatcher::LogCommit(const CommitGroup& group, const absl::Status& status,
                           TimeMs retry_in_ms) {
  if (status.ok()) {
    if (!commits_failing_) return;
    commits_failing_ = false;
    Log(LogLevel::kInfo, "outcome writes succeed again",
        {{"similar_errors_not_logged", commit_failure_log_.Reset()}});
    return;
  }
  commits_failing_ = true;
  uint64_t not_logged = 0;
  if (!commit_failure_log_.Allow(clock_->NowMs(), &not_logged)) return;
  Log(LogLevel::kError, "outcome write failed; deliveries stay queued",
      {{"answers", group.answers.size()},
       {"integration", group.answers.front().first},
       {"error", status.ToString()},
       {"retry_in_ms", retry_in_ms},
       {"similar_errors_not_logged", not_logged}});
}

TimeMs Dispatcher::Settle(uint64_t lane_id, std::vector<Delivery> deliveries,
                          const absl::Status& status) {
  Lane* lane = FindLane(lane_id);
  if (lane != nullptr) Touch(lane_id);
  // Each erase lands on a random slot of a set of thousands: fetch the slot
  // of a later delivery while this one is erased, or nearly every erase
  // waits on a cache miss.
  constexpr size_t kPrefetchAhead = 8;
  for (size_t i = 0; i < deliveries.size(); ++i) {
    const Delivery& d = deliveries[i];
    held_bytes_ -= d.event.size();
    if (lane == nullptr) continue;
    if (i + kPrefetchAhead < deliveries.size()) {
      lane->held.prefetch(HeldKey(deliveries[i + kPrefetchAhead]));
    }
    lane->held.erase(HeldKey(d));
  }
  counters_.held_bytes.store(held_bytes_, std::memory_order_relaxed);
  TimeMs backoff = 0;
  if (!status.ok()) {
    // The store still holds the deliveries under their old keys: rescan,
    // after a backoff.
    counters_.commit_errors.fetch_add(1, std::memory_order_relaxed);
    if (lane != nullptr) {
      backoff = options_.commit_backoff_ms;
      for (uint32_t i = 0; i < lane->commit_failures && backoff < options_.commit_backoff_max_ms;
           ++i) {
        backoff *= 2;
      }
      backoff = std::min(backoff, options_.commit_backoff_max_ms);
      ++lane->commit_failures;
      lane->paused_until = std::max(lane->paused_until, clock_->NowMs() + backoff);
      store_->ResetCursor(lane_id);
    }
  } else if (lane != nullptr) {
    lane->commit_failures = 0;
  }
  MaybeDrained(IntegrationOfLane(lane_id));
  return backoff;
}

TimeMs Dispatcher::NextWakeMs() {
  if (held_bytes_ >= options_.max_held_bytes || in_flight_ >= options_.max_in_flight)
    return kNoDue;  // an answer will pump
  RefreshWakes();
  return wakes_.empty() ? kNoDue : wakes_.begin()->first;
}

HealthTotals Dispatcher::Health(uint64_t integration_id) {
  auto it = health_.find(integration_id);
  if (it == health_.end()) return {};
  return it->second.Totals(clock_->NowMs());
}

uint32_t Dispatcher::InFlight(uint64_t integration_id) const {
  auto it = lanes_.find(integration_id);
  return it == lanes_.end() ? 0 : it->second->in_flight;
}

}  // namespace outboxd
