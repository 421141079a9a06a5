// Building one Data Collector request (JSON array body + signed headers) from
// 1,000 realistic ~700-byte hit records, as the dispatcher does per batch.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "benchmark/benchmark.h"
#include "destinations/sentinel.h"

namespace outboxd {
namespace {

constexpr TimeMs kNow = 1'700'000'000'000;
constexpr int kRecords = 1000;

// One minified hit as ingest stores it: the event as it came in.
std::string HitRecord(int i) {
  static constexpr const char* kTypes[] = {"sqli", "xss", "rce", "ptrav", "xxe", "ssrf"};
  static constexpr const char* kMethods[] = {"GET", "POST", "PUT", "DELETE"};
  char buf[1024];
  const int n = std::snprintf(
      buf, sizeof(buf),
      R"({"id":"hit-%08d-6f1c2a9e4b7d","company_id":%d,"event_type":"hit",)"
      R"("occurred_at":"2023-11-14T22:%02d:%02d.%03dZ","domain":"api.shop-%04d.example.com",)"
      R"("method":"%s","path":"/api/v2/orders/%d/items","query":"sort=desc&page=%d",)"
      R"("payloads":["' OR 1=1 -- %d","<script>alert(document.cookie)</script>"],)"
      R"("point":["post","json_doc","hash","comment"],"remote_addr4":"203.0.%d.%d",)"
      R"("remote_country":"DE","type":"%s","block_status":"blocked",)"
      R"("attack_id":"8a4f%06d-c3d1-4e7b-9f20-1b2c3d4e5f60","response_status":403,)"
      R"("response_time":%d,"response_len":%d,"application_id":%d,)"
      R"("user_agent":"Mozilla/5.0 (X11; Linux x86_64) Chrome/119.0",)"
      R"("node_uuid":"0d9e8f7a-%04d-4b5c-8d7e-6f5a4b3c2d1e","request_id":"req-%010d"})",
      i, 4217 + i % 3, i / 60 % 60, i % 60, i % 1000, i % 97, kMethods[i % 4],
      100000 + i * 7, i % 9, i, i % 256, (i * 31) % 256, kTypes[i % 6], i, 5 + i % 40,
      512 + i % 300, i % 16, i % 10000, i);
  return std::string(buf, static_cast<size_t>(n));
}

IntegrationConfig Config() {
  IntegrationConfig c;
  c.id = 1;
  c.workspace_id = "7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5b";
  c.primary_key =
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD"
      "0+Pw==";
  return c;
}

void BM_BuildRequest1000Hits(benchmark::State& state) {
  std::vector<std::string> owned;
  for (int i = 0; i < kRecords; ++i) owned.push_back(HitRecord(i));
  const std::vector<std::string_view> records(owned.begin(), owned.end());
  size_t total = 0;
  for (const std::string& r : owned) total += r.size();
  auto dest = SentinelDestination::Create(Config(), {}).value();
  const BatchView batch{"new_hits", records};
  size_t body_bytes = 0;
  for (auto _ : state) {
    dest->BuildRequest(batch, kNow, [&](absl::StatusOr<HttpRequest> request) {
      body_bytes = request->body.size();
      benchmark::DoNotOptimize(request->body.data());
    });
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body_bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kRecords);
  state.counters["record_bytes"] = static_cast<double>(total) / kRecords;
  state.counters["body_bytes"] = static_cast<double>(body_bytes);
}
BENCHMARK(BM_BuildRequest1000Hits);

void BM_BuildJsonArrayBody1000Hits(benchmark::State& state) {
  std::vector<std::string> owned;
  for (int i = 0; i < kRecords; ++i) owned.push_back(HitRecord(i));
  const std::vector<std::string_view> records(owned.begin(), owned.end());
  size_t body_bytes = 0;
  for (auto _ : state) {
    std::string body = BuildJsonArrayBody(records);
    body_bytes = body.size();
    benchmark::DoNotOptimize(body.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body_bytes));
}
BENCHMARK(BM_BuildJsonArrayBody1000Hits);

}  // namespace
}  // namespace outboxd
