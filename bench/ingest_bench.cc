// Validating one POST /v1/events body: 500 loadgen hit records (~700 bytes,
// the end-to-end bench's input) as NDJSON, as the ingest handler does per
// request. Reports the time per event; items/s is events validated per second.
// BM_ParseNdjsonBodyKeepingBody parses as the handler does, without copying
// compact events.
#include <string>

#include "api/ingest_parser.h"
#include "benchmark/benchmark.h"
#include "hit_records.h"

namespace outboxd {
namespace {

constexpr int kEvents = 500;

std::string Body() {
  loadgen::HitRecords records(loadgen::HitRecordOptions{});
  std::string body;
  for (int i = 0; i < kEvents; ++i) {
    records.Append(i, loadgen::Rfc3339Millis(1'700'000'000'000 + i), &body);
    body.push_back('\n');
  }
  return body;
}

// `spare`: bytes readable after the body, as the handler passes the body
// string's spare capacity (0: only the last event is copied before parsing).
void BM_ParseNdjsonBody(benchmark::State& state) {
  std::string body = Body();
  const size_t spare = static_cast<size_t>(state.range(0));
  body.reserve(body.size() + spare);
  for (auto _ : state) {
    IngestParseResult r = ParseEvents(body, BodyFormat::kNdjson, {}, spare);
    if (!r.ok() || r.events.size() != kEvents) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations() * kEvents);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_ParseNdjsonBody)->Arg(0)->Arg(64);

// As the handler parses: the result keeps the body (64 spare bytes) and
// the compact events point into it instead of being copied. The body is
// taken back from each result for the next iteration.
void BM_ParseNdjsonBodyKeepingBody(benchmark::State& state) {
  std::string body = Body();
  body.reserve(body.size() + 64);
  const size_t size = body.size();
  for (auto _ : state) {
    IngestParseResult r = ParseEventsKeepingBody(std::move(body), BodyFormat::kNdjson);
    if (!r.ok() || r.events.size() != kEvents) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(r);
    body = std::move(r.body);
  }
  state.SetItemsProcessed(state.iterations() * kEvents);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
}
BENCHMARK(BM_ParseNdjsonBodyKeepingBody);

}  // namespace
}  // namespace outboxd
