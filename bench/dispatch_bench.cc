// BM_AnswerWithManyIntegrations: what one answer costs the dispatcher's
// loop, by number of integrations:
// the commit of the delivered batch, the pump that refills the lane, and the
// NextWakeMs the driver reads after every pump. Every integration has one
// request in flight (the shape of the concurrency bench: thousands of
// integrations, each waiting on a slow receiver), so with per-answer work
// that does not depend on the number of integrations, the time per answer
// stays flat as the count grows.
//
//
// BM_DeliverBatchOf1000: the dispatcher's work per delivered event on the
// throughput path, without ingest or the network: 1,000 loadgen hit records
// (~700 bytes) queued for one integration (not timed), then one pump
// (scan, batch, build the request), its 200 answer, and the commit that
// removes them (1,000 SingleDeletes, applied inline, sync off).
//
//   build/bench/dispatch_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "dispatch/committer.h"
#include "dispatch/dispatcher.h"
#include "dispatch/test_destination.h"
#include "fakes/scripted_transport.h"
#include "fakes/temp_dir.h"
#include "hit_records.h"

namespace outboxd {
namespace {

class NoHooks final : public DispatcherHooks {
 public:
  void OnBroken(const IntegrationConfig&, TimeMs, Changes&) override {}
  void OnDrained(uint64_t) override {}
};

// A store on a fresh directory (sync off), a fake clock and transport, and
// commits applied inline: everything a Dispatcher needs, with TestDestination
// lanes allowed `body_limit` bytes per request.
struct Rig {
  explicit Rig(uint64_t body_limit, uint64_t fresh_cache_bytes = StoreOptions().fresh_cache_bytes)
      : body_limit(body_limit) {
    StoreOptions so;
    so.path = dir.path();
    so.sync = false;
    so.fresh_cache_bytes = fresh_cache_bytes;
    store = std::move(*OutboxStore::Open(so));
    committer = std::make_unique<InlineCommitter>(store.get());
  }
  std::unique_ptr<Dispatcher> MakeDispatcher(const DispatcherOptions& options) {
    const uint64_t limit = body_limit;
    return std::make_unique<Dispatcher>(
        store.get(), &transport, &clock,
        [limit](
            const IntegrationConfig& c) -> absl::StatusOr<std::unique_ptr<Destination>> {
          DestinationLimits limits;
          limits.max_body_bytes = limit;
          return std::make_unique<TestDestination>(IntegrationOfLane(c.id), limits);
        },
        &hooks, committer.get(), options);
  }

  const uint64_t body_limit;
  TempDir dir;
  std::unique_ptr<OutboxStore> store;
  FakeClock clock{1'800'000'000'000};
  ScriptedTransport transport;
  std::unique_ptr<InlineCommitter> committer;
  NoHooks hooks;
};

void BM_AnswerWithManyIntegrations(benchmark::State& state) {
  const uint64_t integrations = static_cast<uint64_t>(state.range(0));
  Rig rig(DestinationLimits().max_body_bytes);
  OutboxStore* store = rig.store.get();
  FakeClock& clock = rig.clock;
  ScriptedTransport& transport = rig.transport;
  DispatcherOptions options;
  options.batch.linger_ms = 0;
  options.batch.max_records = 1;
  options.max_in_flight_per_integration = 1;
  std::unique_ptr<Dispatcher> owned = rig.MakeDispatcher(options);
  Dispatcher& dispatcher = *owned;
  if (!dispatcher.Start().ok()) return state.SkipWithError("dispatcher did not start");
  uint64_t next_event = 0;
  auto enqueue = [&](uint64_t id, int n) {
    Changes c = store->NewChanges();
    for (int i = 0; i < n; ++i) {
      c.Enqueue(id, "new_hits",
                absl::StrCat(R"({"id":"e)", next_event++, R"(","event_type":"hit"})"),
                clock.NowMs(), clock.NowMs());
    }
    return store->Apply(std::move(c)).ok();
  };
  for (uint64_t id = 1; id <= integrations; ++id) {
    IntegrationConfig c;
    c.id = id;
    c.company_id = 7;
    c.version = 1;
    dispatcher.SetIntegration(c);
    if (!enqueue(id, 2)) return state.SkipWithError("enqueue failed");
  }
  dispatcher.Pump();
  if (transport.pending().size() != integrations)
    return state.SkipWithError("not every integration has a request in flight");

  TimeMs wake_sum = 0;
  for (auto _ : state) {
    // The newest request is answered (the fake transport erases it from
    // the back: O(1), so the figure is the dispatcher's); its integration
    // gets a new delivery so that it always has one more to send.
    const size_t last = transport.pending().size() - 1;
    const uint64_t id = std::stoull(transport.pending()[last].request.url.substr(12));
    state.PauseTiming();
    enqueue(id, 1);
    state.ResumeTiming();
    transport.Complete(last, ScriptedTransport::Status(200));
    wake_sum += dispatcher.NextWakeMs();
  }
  benchmark::DoNotOptimize(wake_sum);
  if (transport.pending().size() != integrations)
    state.SkipWithError("requests in flight changed during the run");
  state.SetItemsProcessed(state.iterations());
  state.counters["integrations"] = static_cast<double>(integrations);
}
BENCHMARK(BM_AnswerWithManyIntegrations)->Arg(10)->Arg(1000)->Arg(5000)->Unit(benchmark::kMicrosecond);

// Arg: the store's fresh-delivery cache (1: default, 0: every scan reads
// RocksDB). The Apply that enqueues is outside the timing; with the cache
// on it also makes the copies the scan then takes.
void BM_DeliverBatchOf1000(benchmark::State& state) {
  constexpr int kBatch = 1000;
  Rig rig(64 << 20, state.range(0) != 0 ? StoreOptions().fresh_cache_bytes : 0);
  OutboxStore* store = rig.store.get();
  FakeClock& clock = rig.clock;
  ScriptedTransport& transport = rig.transport;
  DispatcherOptions options;
  options.batch.linger_ms = 0;
  options.batch.max_records = kBatch;
  options.batch.max_body_bytes = 64 << 20;
  options.max_in_flight_per_integration = 1;
  std::unique_ptr<Dispatcher> owned = rig.MakeDispatcher(options);
  Dispatcher& dispatcher = *owned;
  if (!dispatcher.Start().ok()) return state.SkipWithError("dispatcher did not start");
  IntegrationConfig config;
  config.id = 1;
  config.company_id = 1;
  config.version = 1;
  dispatcher.SetIntegration(config);

  loadgen::HitRecords hits({});
  std::vector<std::string> records(kBatch);
  const std::string occurred_at = loadgen::Rfc3339Millis(clock.NowMs());
  uint64_t bytes = 0;
  for (int i = 0; i < kBatch; ++i) {
    hits.Append(static_cast<uint64_t>(i), occurred_at, &records[i]);
    bytes += records[i].size();
  }
  for (auto _ : state) {
    state.PauseTiming();
    clock.Advance(1);
    Changes c = store->NewChanges(bytes + 64 * kBatch);
    for (const std::string& r : records)
      c.Enqueue(1, "WallarmHits", r, clock.NowMs(), clock.NowMs());
    if (!store->Apply(std::move(c)).ok()) return state.SkipWithError("enqueue failed");
    state.ResumeTiming();
    dispatcher.Pump();
    if (transport.pending().size() != 1)
      return state.SkipWithError("expected one request");
    transport.Complete(0, ScriptedTransport::Status(200));
  }
  if (store->QueuedCount(1) != 0) state.SkipWithError("deliveries left in the outbox");
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_DeliverBatchOf1000)->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace outboxd
