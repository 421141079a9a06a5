// Signing cost of one Data Collector request.
//
// The SharedKey signature covers only "POST\n<content-length>\n...\nx-ms-date"
// — not the body — so signing a 1 MB batch costs the same as signing an
// empty one. BM_HmacSha256 shows the raw HMAC rate over 1 MB for comparison
// (what a signature over the body would cost).
#include <string>

#include "benchmark/benchmark.h"
#include "outboxd/signer.h"

namespace outboxd {
namespace {

constexpr TimeMs kNow = 1'700'000'000'000;
constexpr char kWorkspace[] = "7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5b";

std::string Key() {
  std::string key;
  for (int i = 0; i < 64; ++i) key.push_back(static_cast<char>(i * 37 + 11));
  return Base64Encode(key);
}

std::string Body(size_t size) {
  std::string body(size, 'x');
  for (size_t i = 0; i < size; ++i) body[i] = static_cast<char>('a' + (i * 7919) % 26);
  return body;
}

// Everything a request's signature takes: the date header and the
// Authorization header for a 1 MB body.
void BM_SharedKeySign(benchmark::State& state) {
  const std::string body = Body(static_cast<size_t>(state.range(0)));
  const SharedKeySigner signer = SharedKeySigner::Create(kWorkspace, Key()).value();
  TimeMs now = kNow;
  for (auto _ : state) {
    const std::string date = Rfc1123Date(now++);
    std::string auth = signer.Authorization(body.size(), date);
    benchmark::DoNotOptimize(auth);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_SharedKeySign)->Arg(1 << 20);

void BM_HmacSha256(benchmark::State& state) {
  const std::string body = Body(static_cast<size_t>(state.range(0)));
  const std::string key = Base64Decode(Key()).value();
  for (auto _ : state) {
    std::string mac = HmacSha256(key, body);
    benchmark::DoNotOptimize(mac);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_HmacSha256)->Arg(1 << 10)->Arg(1 << 20);

void BM_Rfc1123Date(benchmark::State& state) {
  TimeMs now = kNow;
  for (auto _ : state) {
    std::string date = Rfc1123Date(now);
    now += 1013;
    benchmark::DoNotOptimize(date);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Rfc1123Date);

}  // namespace
}  // namespace outboxd
