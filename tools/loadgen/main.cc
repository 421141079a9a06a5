// loadgen: pushes N generated hit records to outboxd's POST /v1/events
// (NDJSON or a JSON array, B events per request) over C keep-alive
// connections, as fast as possible or at a fixed rate, and reports the
// acknowledged events per second. With --acks it writes one line per
// acknowledged request, "first_seq count sent_unix_us acked_unix_us", so a
// harness can join the 202 times with arrival times per event id
// ("<prefix>-<seq>"). See --help.
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "hit_records.h"

namespace outboxd::loadgen {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

constexpr char kUsage[] = R"(usage: loadgen [options]
  --target HOST:PORT     outboxd's API (default 127.0.0.1:8400)
  --token TOKEN          ingest token (default: $OUTBOXD_INGEST_TOKEN)
  --events N             records to send (default 100000)
  --batch B              records per request (default 100)
  --connections C        keep-alive connections, one thread each (default 4)
  --rate R               records per second in all (default 0: as fast as acknowledged)
  --companies K          company_id = 1 + seq % K (default 1)
  --bytes S              approximate record size (default 700)
  --format F             ndjson (default) or array
  --id-prefix P          record ids are "P-<seq>" (default bench)
  --seed N               payload pool seed (default 1)
  --acks FILE            one line per 202: first_seq count sent_unix_us acked_unix_us
  --progress             a line per second on stderr
Prints a JSON summary on stdout. 503 answers and dropped connections are
retried (the same records, after a short back-off); any other non-202
answer stops the run with exit code 1.
)";

struct Flags {
  std::string host = "127.0.0.1";
  std::string port = "8400";
  std::string token;
  uint64_t events = 100000;
  uint64_t batch = 100;
  int connections = 4;
  double rate = 0;
  bool array = false;
  bool progress = false;
  std::string acks;
  HitRecordOptions records;
};

struct AckLine {
  uint64_t first_seq;
  uint32_t count;
  int64_t sent_us;
  int64_t acked_us;
};

// What the connection threads share.
struct Shared {
  const Flags* flags = nullptr;
  const HitRecords* records = nullptr;
  uint64_t total_requests = 0;
  SteadyClock::time_point start;
  std::atomic<uint64_t> next_request{0};
  std::atomic<uint64_t> acked_events{0};
  std::atomic<uint64_t> acked_bytes{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::string failure;  // guarded by mu
};

int64_t UnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Connection {
 public:
  explicit Connection(Shared* shared) : shared_(shared), stream_(ioc_) {}

  // Sends requests until none is left; returns this thread's acks.
  std::vector<AckLine> Run() {
    std::vector<AckLine> acks;
    std::string body;
    for (;;) {
      const uint64_t k = shared_->next_request.fetch_add(1);
      if (k >= shared_->total_requests || shared_->failed.load()) break;
      const Flags& f = *shared_->flags;
      const uint64_t first = k * f.batch;
      const uint64_t count = std::min(f.batch, f.events - first);
      if (f.rate > 0) {
        std::this_thread::sleep_until(
            shared_->start + std::chrono::duration_cast<SteadyClock::duration>(
                                 std::chrono::duration<double>(first / f.rate)));
      }
      BuildBody(first, count, &body);
      AckLine ack{first, static_cast<uint32_t>(count), 0, 0};
      if (!SendUntilAccepted(&body, &ack)) break;
      acks.push_back(ack);
      shared_->acked_events.fetch_add(count);
      shared_->acked_bytes.fetch_add(body.size());
    }
    return acks;
  }

 private:
  void BuildBody(uint64_t first, uint64_t count, std::string* body) {
    const int64_t now_ms = UnixMicros() / 1000;
    if (now_ms / 1000 != occurred_second_) {
      occurred_second_ = now_ms / 1000;
      occurred_at_ = Rfc3339Millis(now_ms);
    }
    body->clear();
    const bool array = shared_->flags->array;
    if (array) body->push_back('[');
    for (uint64_t i = 0; i < count; ++i) {
      if (array && i > 0) body->push_back(',');
      shared_->records->Append(first + i, occurred_at_, body);
      if (!array) body->push_back('\n');
    }
    if (array) body->push_back(']');
  }

  // False when the run must stop (a hard error, recorded in `shared_`).
  bool SendUntilAccepted(std::string* body, AckLine* ack) {
    for (int attempt = 0;; ++attempt) {
      if (attempt > 0) {
        shared_->retries.fetch_add(1);
        // Back off (client side only; outboxd asks for Retry-After: 1).
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(5 << attempt, 500)));
      }
      if (shared_->failed.load()) return false;
      int status = 0;
      std::string answer;
      ack->sent_us = UnixMicros();
      beast::error_code ec = Post(body, &status, &answer);
      ack->acked_us = UnixMicros();
      if (ec) {
        Disconnect();
        if (attempt < 50) continue;
        return Fail(absl::StrCat("connection error: ", ec.message()));
      }
      if (status == 202) return true;
      if (status == 503 && attempt < 1000) continue;
      return Fail(absl::StrCat("answer ", status, ": ", answer.substr(0, 300)));
    }
  }

  beast::error_code Post(std::string* body, int* status, std::string* answer) {
    beast::error_code ec;
    if (!connected_) {
      tcp::resolver resolver(ioc_);
      auto endpoints = resolver.resolve(shared_->flags->host, shared_->flags->port, ec);
      if (ec) return ec;
      stream_.connect(endpoints, ec);
      if (ec) return ec;
      stream_.socket().set_option(tcp::no_delay(true), ec);
      connected_ = true;
    }
    http::request<http::string_body> req{http::verb::post, "/v1/events", 11};
    req.set(http::field::host, shared_->flags->host);
    req.set(http::field::authorization, "Bearer " + shared_->flags->token);
    req.set(http::field::content_type,
            shared_->flags->array ? "application/json" : "application/x-ndjson");
    req.keep_alive(true);
    req.body() = std::move(*body);
    req.prepare_payload();
    http::write(stream_, req, ec);
    *body = std::move(req.body());
    if (ec) return ec;
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res, ec);
    if (ec) return ec;
    *status = res.result_int();
    *answer = std::move(res.body());
    if (!res.keep_alive()) Disconnect();
    return {};
  }

  void Disconnect() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    buffer_.clear();
    connected_ = false;
  }

  bool Fail(std::string message) {
    std::lock_guard<std::mutex> lock(shared_->mu);
    if (!shared_->failed.exchange(true)) shared_->failure = std::move(message);
    return false;
  }

  Shared* shared_;
  net::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  bool connected_ = false;
  int64_t occurred_second_ = -1;
  std::string occurred_at_;
};

template <typename T>
bool ParseNumber(const std::string& text, T* out) {
  if constexpr (std::is_floating_point_v<T>) return absl::SimpleAtod(text, out) && *out >= 0;
  else return absl::SimpleAtoi(text, out) && *out >= 0;
}

bool ApplyFlag(const std::string& flag, const std::string& v, Flags* f) {
  if (flag == "--target") {
    const size_t colon = v.rfind(':');
    if (colon == std::string::npos) return false;
    f->host = v.substr(0, colon);
    f->port = v.substr(colon + 1);
    return true;
  }
  if (flag == "--token") return f->token = v, true;
  if (flag == "--events") return ParseNumber(v, &f->events);
  if (flag == "--batch") return ParseNumber(v, &f->batch) && f->batch > 0;
  if (flag == "--connections") return ParseNumber(v, &f->connections) && f->connections > 0;
  if (flag == "--rate") return ParseNumber(v, &f->rate);
  if (flag == "--companies") return ParseNumber(v, &f->records.companies) && f->records.companies > 0;
  if (flag == "--bytes") return ParseNumber(v, &f->records.target_bytes);
  if (flag == "--format") return (f->array = v == "array") || v == "ndjson";
  if (flag == "--id-prefix") return f->records.id_prefix = v, !v.empty();
  if (flag == "--seed") return ParseNumber(v, &f->records.seed);
  if (flag == "--acks") return f->acks = v, true;
  return false;
}

bool ParseFlags(int argc, char** argv, Flags* f) {
  if (const char* token = std::getenv("OUTBOXD_INGEST_TOKEN")) f->token = token;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--progress") {
      f->progress = true;
      continue;
    }
    if (i + 1 >= argc || !ApplyFlag(flag, argv[i + 1], f)) {
      std::cerr << "loadgen: bad or unknown option " << flag << "\n";
      return false;
    }
    ++i;
  }
  return true;
}

// Percentile of sorted values (nearest rank).
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(p * static_cast<double>(sorted.size()));
  return sorted[std::min(rank, sorted.size() - 1)];
}

bool WriteAcks(const std::string& path, const std::vector<AckLine>& acks) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return false;
  for (const AckLine& a : acks) {
    std::fprintf(file, "%llu %u %lld %lld\n", static_cast<unsigned long long>(a.first_seq),
                 a.count, static_cast<long long>(a.sent_us), static_cast<long long>(a.acked_us));
  }
  return std::fclose(file) == 0;
}

void ReportProgress(Shared* shared, const std::atomic<bool>* done) {
  uint64_t last = 0;
  while (!done->load()) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const uint64_t now = shared->acked_events.load();
    std::cerr << "loadgen: " << now << " acknowledged (" << (now - last) << "/s)\n";
    last = now;
  }
}

int Run(int argc, char** argv) {
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::cout << kUsage;
    return 0;
  }
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) return 2;
  const HitRecords records(flags.records);
  Shared shared;
  shared.flags = &flags;
  shared.records = &records;
  shared.total_requests = (flags.events + flags.batch - 1) / flags.batch;
  shared.start = SteadyClock::now();
  std::vector<std::vector<AckLine>> per_thread(flags.connections);
  std::vector<std::thread> threads;
  for (int i = 0; i < flags.connections; ++i) {
    threads.emplace_back([&shared, &per_thread, i] { per_thread[i] = Connection(&shared).Run(); });
  }
  std::atomic<bool> done{false};
  std::thread progress;
  if (flags.progress) progress = std::thread(ReportProgress, &shared, &done);
  for (std::thread& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(SteadyClock::now() - shared.start).count();
  done.store(true);
  if (progress.joinable()) progress.join();

  std::vector<AckLine> acks;
  for (auto& v : per_thread) acks.insert(acks.end(), v.begin(), v.end());
  std::sort(acks.begin(), acks.end(),
            [](const AckLine& a, const AckLine& b) { return a.first_seq < b.first_seq; });
  std::vector<double> latency_ms;
  latency_ms.reserve(acks.size());
  for (const AckLine& a : acks) latency_ms.push_back((a.acked_us - a.sent_us) / 1e3);
  std::sort(latency_ms.begin(), latency_ms.end());
  if (!flags.acks.empty() && !WriteAcks(flags.acks, acks)) {
    std::cerr << "loadgen: cannot write " << flags.acks << "\n";
    return 1;
  }
  const uint64_t events = shared.acked_events.load();
  const uint64_t bytes = shared.acked_bytes.load();
  int64_t first_sent_us = 0, last_acked_us = 0;
  for (const AckLine& a : acks) {
    if (first_sent_us == 0 || a.sent_us < first_sent_us) first_sent_us = a.sent_us;
    last_acked_us = std::max(last_acked_us, a.acked_us);
  }
  std::printf(
      "{\"events\": %llu, \"requests\": %zu, \"body_bytes\": %llu, \"seconds\": %.3f, "
      "\"events_per_s\": %.0f, \"mb_per_s\": %.1f, \"retries\": %llu, "
      "\"request_ms_p50\": %.2f, \"request_ms_p99\": %.2f, \"request_ms_max\": %.2f, "
      "\"first_sent_unix_us\": %lld, \"last_acked_unix_us\": %lld}\n",
      static_cast<unsigned long long>(events), acks.size(),
      static_cast<unsigned long long>(bytes), seconds, events / seconds, bytes / seconds / 1e6,
      static_cast<unsigned long long>(shared.retries.load()), Percentile(latency_ms, 0.5),
      Percentile(latency_ms, 0.99), latency_ms.empty() ? 0 : latency_ms.back(),
      static_cast<long long>(first_sent_us), static_cast<long long>(last_acked_us));
  if (shared.failed.load()) {
    std::cerr << "loadgen: " << shared.failure << "\n";
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace outboxd::loadgen

int main(int argc, char** argv) { return outboxd::loadgen::Run(argc, argv); }
