// tools/fake_sentinel's cost per record: the verifying receiver of the
// end-to-end bench shares the two cores with outboxd, so every microsecond
// it spends is taken from outboxd in the verify runs. The body is what
// outboxd posts: a JSON array of 1,000 loadgen hits (~700 bytes each).
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "checks.h"
#include "hit_records.h"
#include "simdjson.h"

namespace outboxd::fake_sentinel {
namespace {

constexpr int kRecords = 1000;

std::string Body() {
  loadgen::HitRecords records(loadgen::HitRecordOptions{});
  std::string body = "[";
  for (int i = 0; i < kRecords; ++i) {
    if (i > 0) body.push_back(',');
    records.Append(i, loadgen::Rfc3339Millis(1'700'000'000'000 + i), &body);
  }
  body.push_back(']');
  return body;
}

// What the out file keeps of each record of a parsed body: the record
// minified (arg 0, --out-format records) or its id (arg 1, ids).
void BM_RecordsToKeep(benchmark::State& state) {
  const OutFormat keep = state.range(0) == 0 ? OutFormat::kRecords : OutFormat::kIds;
  const std::string body = Body();
  simdjson::dom::parser parser;
  simdjson::dom::array array;
  if (parser.parse(body).get_array().get(array) != simdjson::SUCCESS) {
    state.SkipWithError("parse failed");
    return;
  }
  for (auto _ : state) {
    std::vector<std::string> records = RecordsToKeep(body, array, keep);
    if (records.size() != kRecords) state.SkipWithError("split failed");
    benchmark::DoNotOptimize(records);
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_RecordsToKeep)->Arg(0)->Arg(1);

// The DOM parse that validates the body, for scale.
void BM_ParseBody(benchmark::State& state) {
  const std::string body = Body();
  simdjson::dom::parser parser;
  for (auto _ : state) {
    simdjson::dom::element doc;
    if (parser.parse(body).get(doc) != simdjson::SUCCESS)
      state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(doc);
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_ParseBody);

}  // namespace
}  // namespace outboxd::fake_sentinel
