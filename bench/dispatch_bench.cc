// What one answer costs the dispatcher's loop, by number of integrations:
// the commit of the delivered batch, the pump that refills the lane, and the
// NextWakeMs the driver reads after every pump. Every integration has one
// request in flight (the shape of the concurrency bench: thousands of
// integrations, each waiting on a slow receiver), so with per-answer work
// that does not depend on the number of integrations, the time per answer
// stays flat as the count grows.
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

namespace outboxd {
namespace {

class NoHooks final : public DispatcherHooks {
 public:
  void OnBroken(const IntegrationConfig&, TimeMs, Changes&) override {}
  void OnDrained(uint64_t) override {}
};

void BM_AnswerWithManyIntegrations(benchmark::State& state) {
  const uint64_t integrations = static_cast<uint64_t>(state.range(0));
  TempDir dir;
  StoreOptions so;
  so.path = dir.path();
  so.sync = false;
  std::unique_ptr<OutboxStore> store = std::move(*OutboxStore::Open(so));
  FakeClock clock(1'800'000'000'000);
  ScriptedTransport transport;
  InlineCommitter committer(store.get());
  NoHooks hooks;
  DispatcherOptions options;
  options.batch.linger_ms = 0;
  options.batch.max_records = 1;
  options.max_in_flight_per_integration = 1;
  Dispatcher dispatcher(
      store.get(), &transport, &clock,
      [](const IntegrationConfig& c) -> absl::StatusOr<std::unique_ptr<Destination>> {
        return std::make_unique<TestDestination>(IntegrationOfLane(c.id));
      },
      &hooks, &committer, options);
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

}  // namespace
}  // namespace outboxd
