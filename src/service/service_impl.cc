#include "service/service_impl.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <map>

#include "absl/strings/str_cat.h"
#include "api/json_writer.h"
#include "outboxd/rfc3339.h"
#include "outboxd/crash_point.h"
#include "outboxd/log.h"
#include "outboxd/strings.h"

namespace outboxd {

ServiceImpl::ServiceImpl(OutboxStore* store, Registry* registry, HourlyReporter* hourly,
                         Clock* clock, LoopAccess loop, ServiceOptions options)
    : store_(store),
      registry_(registry),
      hourly_(hourly),
      clock_(clock),
      loop_(std::move(loop)),
      options_(options) {
  RefreshDiskUsage();
}

void ServiceImpl::RefreshDiskUsage() {
  StoreStats s = store_->Stats();
  const uint64_t quota = options_.disk_quota_bytes;
  const TimeMs now = clock_->NowMs();
  if (quota > 0 && s.live_sst_bytes + s.wal_bytes >= quota && s.wal_bytes > 0 &&
      (last_quota_flush_ms_ == 0 || now - last_quota_flush_ms_ >= kQuotaFlushIntervalMs)) {
    last_quota_flush_ms_ = now;
    const uint64_t before = s.live_sst_bytes + s.wal_bytes;
    if (absl::Status flushed = store_->Flush(); !flushed.ok()) {
      Log(LogLevel::kWarn, "over the disk quota; flushing to release WAL files failed",
          {{"error", flushed.ToString()}});
    } else {
      s = store_->Stats();
      Log(LogLevel::kInfo, "over the disk quota: flushed to release WAL files",
          {{"bytes_before", before},
           {"bytes_after", s.live_sst_bytes + s.wal_bytes},
           {"quota", quota}});
      // Deliveries flushed to one table file and their removals to a later
      // one keep both on disk until a compaction meets them; with few files
      // RocksDB never starts one, and a drained outbox would stay over the
      // quota. The flush just wrote what was removed since the last one.
      if (s.live_sst_bytes + s.wal_bytes >= quota) CompactOverQuota(&s, quota);
    }
  }
  disk_bytes_.store(s.live_sst_bytes + s.wal_bytes, std::memory_order_relaxed);
  MutexLock lock(&stats_mu_);
  last_stats_ = s;
}

StoreStats ServiceImpl::LastStoreStats() const {
  MutexLock lock(&stats_mu_);
  return last_stats_;
}

void ServiceImpl::CompactOverQuota(StoreStats* s, uint64_t quota) {
  const uint64_t before = s->live_sst_bytes + s->wal_bytes;
  if (absl::Status compacted = store_->CompactOutbox(); !compacted.ok()) {
    Log(LogLevel::kWarn, "over the disk quota; compacting the outbox failed",
        {{"error", compacted.ToString()}});
    return;
  }
  *s = store_->Stats();
  Log(LogLevel::kInfo, "over the disk quota: compacted the outbox to drop delivered entries",
      {{"bytes_before", before}, {"bytes_after", s->live_sst_bytes + s->wal_bytes},
       {"quota", quota}});
}

absl::StatusOr<IngestResult> ServiceImpl::Ingest(std::vector<ParsedEvent> events) {
  ingest_.requests.fetch_add(1, std::memory_order_relaxed);
  if (closing_.load()) return absl::UnavailableError("outboxd is shutting down");
  if (options_.disk_quota_bytes > 0 &&
      disk_bytes_.load(std::memory_order_relaxed) >= options_.disk_quota_bytes) {
    ingest_.over_quota.fetch_add(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(
        "the outbox is over its disk quota; retry once deliveries drain");
  }
  std::vector<Registry::Event> routed;
  routed.reserve(events.size());
  uint64_t bytes = 0;
  for (const ParsedEvent& e : events) {
    routed.push_back({e.company_id, e.facts, e.raw});
    bytes += e.raw.size();
  }
  auto start = std::chrono::steady_clock::now();
  auto deliveries = registry_->IngestDurably(routed, clock_->NowMs());
  if (!deliveries.ok()) {
    ingest_.write_errors.fetch_add(1, std::memory_order_relaxed);
    // A full disk fails every request: one line per interval, not thousands.
    if (uint64_t suppressed = 0; write_error_log_.Allow(clock_->NowMs(), &suppressed)) {
      Log(LogLevel::kError, "ingest write failed",
          {{"error", deliveries.status().ToString()}, {"similar_errors_not_logged", suppressed}});
    }
    // A write error (disk full, I/O) must not look like the client's fault.
    return absl::UnavailableError(
        absl::StrCat("the outbox cannot store events now: ", deliveries.status().message()));
  }
  OUTBOXD_CRASH_POINT("ingest.durable.before_answer");
  if (*deliveries > 0) {
    ingest_.fsync.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  ingest_.events.fetch_add(events.size(), std::memory_order_relaxed);
  ingest_.bytes.fetch_add(bytes, std::memory_order_relaxed);
  ingest_.deliveries.fetch_add(*deliveries, std::memory_order_relaxed);
  return IngestResult{events.size(), *deliveries};
}

absl::Status ServiceImpl::AddRequestCount(uint64_t company_id, uint64_t count, TimeMs at) {
  return hourly_->AddRequestCount(company_id, count, at);
}

absl::StatusOr<IntegrationConfig> ServiceImpl::CreateIntegration(IntegrationConfig config) {
  return registry_->Create(std::move(config));
}

std::vector<IntegrationConfig> ServiceImpl::ListIntegrations() { return registry_->List(); }

absl::StatusOr<IntegrationConfig> ServiceImpl::GetIntegration(uint64_t id) {
  return registry_->Get(id);
}

absl::StatusOr<IntegrationConfig> ServiceImpl::UpdateIntegration(uint64_t id,
                                                                 IntegrationConfig updated) {
  return registry_->Update(id, std::move(updated));
}

absl::Status ServiceImpl::DeleteIntegration(uint64_t id) { return registry_->Delete(id); }

absl::StatusOr<IntegrationConfig> ServiceImpl::SetEnabled(uint64_t id, bool enabled) {
  return registry_->SetEnabled(id, enabled);
}

std::string ServiceImpl::TestRecordJson(const IntegrationConfig& config, TimeMs now) {
  JsonWriter w;
  w.BeginObject()
      .Key("id")
      .String(absl::StrCat("test-", config.id, "-", now))
      .Key("company_id")
      .Uint(config.company_id)
      .Key("event_type")
      .String("user_created")
      .Key("occurred_at")
      .String(FormatRfc3339(now))
      .Key("test")
      .Bool(true)
      .Key("message")
      .String("Test record from outboxd: the integration is configured correctly")
      .Key("integration_name")
      .String(config.name)
      .EndObject();
  return std::move(w).Take();
}

void ServiceImpl::TestIntegration(IntegrationConfig config,
                                  std::function<void(absl::StatusOr<TestResult>)> done) {
  loop_.post([this, config = std::move(config), done = std::move(done)]() mutable {
    auto made = loop_.destinations(config);
    if (!made.ok()) {
      done(made.status());
      return;
    }
    std::shared_ptr<Destination> destination = std::move(*made);
    TimeMs now = clock_->NowMs();
    auto record = std::make_shared<std::string>(TestRecordJson(config, now));
    EventFacts facts;
    facts.type = EventType::kUserCreated;
    std::string log_type(RouteLogType(facts, config.table));
    std::string_view records[] = {*record};
    BatchView view{log_type, records};
    destination->BuildRequest(
        view, now,
        [this, destination, record, done, config](absl::StatusOr<HttpRequest> request) {
          if (!request.ok()) {
            // The test ran: the destination could not even be asked (e.g.
            // its token service refused the credentials). Same words the
            // dispatcher uses, so Classify names the cause.
            HttpResponse none;
            none.transport_error =
                absl::StrCat("request not built: ", request.status().message());
            Answer answer = destination->Classify(none, clock_->NowMs());
            TestResult result;
            result.error_code = answer.error_code;
            result.message = answer.message.empty() ? none.transport_error : answer.message;
            done(std::move(result));
            return;
          }
          request->timeout_ms = options_.test_timeout_ms;
          request->tag = config.id;
          loop_.transport->Send(std::move(*request), [this, destination, done,
                                                      config](HttpResponse response) {
            Answer answer = destination->Classify(response, clock_->NowMs());
            TestResult result;
            result.ok = response.ok();
            result.status = response.status;
            result.error_code = result.ok ? "" : answer.error_code;
            result.message = result.ok ? "" : answer.message;
            if (!result.ok && result.message.empty()) result.message = response.transport_error;
            result.latency_ms = response.latency_ms;
            Log(LogLevel::kInfo, "integration tested",
                {{"integration", config.id}, {"status", response.status},
                 {"error_code", result.error_code}, {"latency_ms", result.latency_ms}});
            done(std::move(result));
          });
        });
  });
}

bool ServiceImpl::CallOnLoop(const std::function<void()>& fn) {
  auto promise = std::make_shared<std::promise<void>>();
  std::future<void> future = promise->get_future();
  loop_.post([fn, promise] {
    fn();
    promise->set_value();
  });
  return future.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
}

absl::StatusOr<IntegrationStatsView> ServiceImpl::Stats(uint64_t id) {
  auto config = registry_->Get(id);
  if (!config.ok()) return config.status();
  IntegrationStatsView view;
  view.state = config->state;
  view.queued = store_->QueuedCount(id) + store_->QueuedCount(NoticeLaneOf(id));
  auto oldest = store_->OldestDue(id);
  if (!oldest.ok()) return oldest.status();
  if (*oldest != kNoDue) view.oldest_due = *oldest;
  auto totals = std::make_shared<HealthTotals>();
  Dispatcher* dispatcher = loop_.dispatcher;
  if (!CallOnLoop([=] { *totals = dispatcher->Health(id); }))
    return absl::UnavailableError("the dispatcher did not answer in time");
  view.requests = totals->requests;
  view.failures = totals->failures;
  view.ratio = totals->ratio();
  return view;
}

absl::StatusOr<std::vector<DeadDelivery>> ServiceImpl::ListDead(uint64_t id,
                                                                size_t limit) {
  auto config = registry_->Get(id);
  if (!config.ok()) return config.status();
  std::vector<DeadDelivery> dead;
  for (uint64_t lane : {id, NoticeLaneOf(id)}) {
    if (dead.size() >= limit) break;
    absl::Status s =
        store_->ForEachDead(lane, limit - dead.size(),
                            [&](DeadDelivery&& d) { dead.push_back(std::move(d)); });
    if (!s.ok()) return s;
  }
  return dead;
}

absl::StatusOr<ReplayResult> ServiceImpl::ReplayDead(uint64_t id,
                                                     std::vector<uint64_t> seqs) {
  auto config = registry_->Get(id);
  if (!config.ok()) return config.status();
  std::sort(seqs.begin(), seqs.end());
  const bool all = seqs.empty();
  const TimeMs now = clock_->NowMs();
  Changes changes = store_->NewChanges();
  ReplayResult result;
  for (uint64_t lane : {id, NoticeLaneOf(id)}) {
    // One past the cap tells whether more remain.
    const size_t max_items = all ? kMaxReplayPerCall + 1 - result.replayed : SIZE_MAX;
    absl::Status s = store_->ForEachDead(lane, max_items, [&](DeadDelivery&& d) {
      if (all && result.replayed == kMaxReplayPerCall) {
        result.more = true;
        return;
      }
      if (!all && !std::binary_search(seqs.begin(), seqs.end(), d.delivery.key.seq))
        return;
      // Replay removes the dead entry in the same batch: atomic with the
      // new outbox key.
      changes.Replay(d, now);
      ++result.replayed;
    });
    if (!s.ok()) return s;
    if (result.more) break;
  }
  if (changes.empty()) return result;
  absl::Status applied = store_->Apply(std::move(changes));
  if (!applied.ok()) return applied;
  Log(LogLevel::kInfo, "dead deliveries replayed",
      {{"integration", id}, {"replayed", result.replayed}});
  return result;
}

void ServiceImpl::RenderIntegrationMetrics(std::string* out) {
  std::vector<IntegrationConfig> all = registry_->All();
  auto health = std::make_shared<std::map<uint64_t, std::pair<HealthTotals, uint32_t>>>();
  Dispatcher* dispatcher = loop_.dispatcher;
  std::vector<uint64_t> ids;
  for (const auto& c : all) ids.push_back(c.id);
  CallOnLoop([=] {
    for (uint64_t id : ids) (*health)[id] = {dispatcher->Health(id), dispatcher->InFlight(id)};
  });
  TimeMs now = clock_->NowMs();
  std::string depth, age, state, ratio, inflight;
  for (const auto& c : all) {
    std::string label = absl::StrCat("{integration=\"", c.id, "\"}");
    absl::StrAppend(&depth, "outboxd_queue_depth", label, " ",
                    store_->QueuedCount(c.id) + store_->QueuedCount(NoticeLaneOf(c.id)), "\n");
    auto oldest = store_->OldestDue(c.id);
    double age_s = oldest.ok() && *oldest != kNoDue && *oldest < now ? (now - *oldest) / 1e3 : 0;
    absl::StrAppend(&age, "outboxd_oldest_due_age_seconds", label, " ", age_s, "\n");
    for (IntegrationState s : {IntegrationState::kEnabled, IntegrationState::kDisabled,
                               IntegrationState::kBroken, IntegrationState::kDeleting}) {
      absl::StrAppend(&state, "outboxd_integration_state{integration=\"", c.id, "\",state=\"",
                      Sv(StateName(s)), "\"} ", c.state == s ? 1 : 0, "\n");
    }
    auto h = health->find(c.id);
    if (h != health->end()) {
      absl::StrAppend(&ratio, "outboxd_health_failure_ratio", label, " ", h->second.first.ratio(),
                      "\n");
      absl::StrAppend(&inflight, "outboxd_integration_requests_in_flight", label, " ",
                      h->second.second, "\n");
    }
  }
  AppendMetricHeader("outboxd_queue_depth", "gauge", "Deliveries queued per integration.", out);
  out->append(depth);
  AppendMetricHeader("outboxd_oldest_due_age_seconds", "gauge",
                     "Age of the earliest due delivery per integration.", out);
  out->append(age);
  AppendMetricHeader("outboxd_integration_state", "gauge", "Integration state (1 = current).",
                     out);
  out->append(state);
  AppendMetricHeader("outboxd_health_failure_ratio", "gauge",
                     "Failed share of requests in the health window.", out);
  out->append(ratio);
  AppendMetricHeader("outboxd_integration_requests_in_flight", "gauge",
                     "Requests in flight per integration.", out);
  out->append(inflight);
}

void ServiceImpl::RenderStoreGauges(std::string* out) const {
  AppendMetricHeader("outboxd_store_disk_bytes", "gauge", "Store files: SST + WAL.", out);
  absl::StrAppend(out, "outboxd_store_disk_bytes ", disk_bytes_.load(), "\n");
  AppendMetricHeader("outboxd_store_fresh_bytes", "gauge",
                     "Fresh deliveries kept in memory for the dispatcher.", out);
  absl::StrAppend(out, "outboxd_store_fresh_bytes ", store_->FreshCacheBytes(), "\n");
  const OutboxStore::FreshListCounts lists = store_->FreshLists();
  AppendMetricHeader("outboxd_store_fresh_lists_capped_total", "counter",
                     "Fresh lists that passed half the cap and stopped listing until the "
                     "dispatcher emptied them (later deliveries read back from RocksDB).",
                     out);
  absl::StrAppend(out, "outboxd_store_fresh_lists_capped_total ", lists.capped, "\n");
  AppendMetricHeader("outboxd_store_fresh_lists_dropped_total", "counter",
                     "Fresh lists dropped with deliveries in them (over the whole cap, a "
                     "failed write, a reset).",
                     out);
  absl::StrAppend(out, "outboxd_store_fresh_lists_dropped_total ", lists.dropped, "\n");
  AppendMetricHeader(
      "outboxd_store_log_only_pending", "gauge",
      "Deliveries written to the WAL only, not yet delivered or rewritten as "
      "entries by a checkpoint.",
      out);
  absl::StrAppend(out, "outboxd_store_log_only_pending ", store_->LogOnlyPending(), "\n");
  AppendMetricHeader("outboxd_store_log_only_restored_at_open", "gauge",
                     "Log-only deliveries the last open found in the WAL files and "
                     "wrote back as entries (after a crash; 0 after a clean stop).",
                     out);
  absl::StrAppend(out, "outboxd_store_log_only_restored_at_open ",
                  store_->LogOnlyRestoredAtOpen(), "\n");
  AppendMetricHeader(
      "outboxd_store_log_only_written_total", "counter",
      "Deliveries written to the WAL only (listed for the dispatcher); the "
      "others of outboxd_ingest_deliveries_total went to the memtable.",
      out);
  absl::StrAppend(out, "outboxd_store_log_only_written_total ", store_->LogOnlyWritten(),
                  "\n");
  RenderStoreMetrics(LastStoreStats(), out);
}

std::string ServiceImpl::Metrics() {
  std::string out;
  auto counter = [&](std::string_view name, std::string_view help, uint64_t v) {
    AppendMetricHeader(name, "counter", help, &out);
    absl::StrAppend(&out, Sv(name), " ", v, "\n");
  };
  counter("outboxd_ingest_requests_total", "POST /v1/events requests.", ingest_.requests.load());
  counter("outboxd_ingest_events_total", "Events accepted.", ingest_.events.load());
  counter("outboxd_ingest_bytes_total", "Bytes of events accepted.", ingest_.bytes.load());
  counter("outboxd_ingest_deliveries_total", "Deliveries enqueued.", ingest_.deliveries.load());
  counter("outboxd_ingest_over_quota_total", "Ingest requests refused: disk quota.",
          ingest_.over_quota.load());
  counter("outboxd_ingest_write_errors_total",
          "Ingest requests answered 503 because the store refused the write (disk full, I/O).",
          ingest_.write_errors.load());
  ingest_.fsync.Render("outboxd_ingest_fsync_seconds",
                       "Time to make one ingest request durable.", &out);
  const DispatcherCounters& d = loop_.dispatcher->counters();
  AppendMetricHeader("outboxd_requests_total", "counter",
                     "Requests to destinations by answer class.", &out);
  absl::StrAppend(&out, "outboxd_requests_total{class=\"2xx\"} ", d.requests_2xx.load(), "\n",
                  "outboxd_requests_total{class=\"4xx\"} ", d.requests_4xx.load(), "\n",
                  "outboxd_requests_total{class=\"5xx\"} ", d.requests_5xx.load(), "\n",
                  "outboxd_requests_total{class=\"other\"} ", d.requests_other.load(), "\n",
                  "outboxd_requests_total{class=\"transport_error\"} ",
                  d.requests_failed_transport.load(), "\n");
  AppendMetricHeader("outboxd_deliveries_total", "counter", "Deliveries by outcome.", &out);
  absl::StrAppend(&out, "outboxd_deliveries_total{outcome=\"delivered\"} ", d.delivered.load(),
                  "\n", "outboxd_deliveries_total{outcome=\"retried\"} ", d.retried.load(), "\n",
                  "outboxd_deliveries_total{outcome=\"dead\"} ", d.dead.load(), "\n");
  counter("outboxd_batches_bisected_total", "Rejected batches split to isolate a record.",
          d.bisected.load());
  counter("outboxd_integrations_broken_total", "Integrations disabled by the failure rule.",
          d.broken.load());
  counter("outboxd_store_deferred_syncs_total",
          "Fsyncs of the dispatcher's outcomes, which are written without one "
          "(at most one a second).",
          store_->deferred_syncs());
  counter("outboxd_commit_errors_total",
          "Answers whose outcome could not be written (the lane backs off and resends).",
          d.commit_errors.load());
  counter("outboxd_commits_total",
          "Store writes of answers' outcomes (one carries one or more answers).",
          d.commits.load());
  counter("outboxd_requests_paced_total",
          "Requests held back to stay under a destination's rate limits.", d.paced.load());
  AppendMetricHeader("outboxd_requests_in_flight", "gauge", "Requests in flight.", &out);
  absl::StrAppend(&out, "outboxd_requests_in_flight ", d.in_flight.load(), "\n");
  AppendMetricHeader("outboxd_requests_in_flight_peak", "gauge", "Peak requests in flight.", &out);
  absl::StrAppend(&out, "outboxd_requests_in_flight_peak ", d.peak_in_flight.load(), "\n");
  AppendMetricHeader("outboxd_outcomes_pending", "gauge",
                     "Answers whose outcome is not written to the store yet.", &out);
  absl::StrAppend(&out, "outboxd_outcomes_pending ", d.outcomes_pending.load(), "\n");
  AppendMetricHeader("outboxd_held_bytes", "gauge", "Delivery bytes held in memory.", &out);
  absl::StrAppend(&out, "outboxd_held_bytes ", d.held_bytes.load(), "\n");
  RenderStoreGauges(&out);
  RenderIntegrationMetrics(&out);
  return out;
}

}  // namespace outboxd
