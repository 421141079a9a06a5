// fake_sentinel: a stand-in for Azure's HTTP Data Collector API, for tests
// and benchmarks. Verifies SharedKey signatures, records accepted records as
// NDJSON, injects faults. See --help.
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "daemon/allocator.h"
#include "faults.h"
#include "outboxd/open_files.h"
#include "output.h"
#include "server.h"

namespace outboxd::fake_sentinel {
namespace {

constexpr char kUsage[] = R"(usage: fake_sentinel [options]
  --listen HOST:PORT          default 127.0.0.1:0 (ephemeral; printed on stdout)
  --port-file FILE            also write the bound port there
  --out FILE                  append accepted records as NDJSON
  --out-format records|ids    whole records (default), or each record's "id"
                              only (what the benchmark's latency join reads)
  --workspace ID=BASE64KEY    a known workspace (repeatable)
  --workspaces-file FILE      lines "ID KEY"
  --any-workspace BASE64KEY   accept any GUID workspace signed with this key
  --fail-rate R --fail-status 500|503|429 --retry-after SECONDS
  --fail-window START_MS:END_MS   fail everything in this window after start
  --latency-ms N              delay every /api/logs answer
  --timeout-rate R --timeout-close-ms N   never answer; close after N ms
  --reset-rate R              close the connection abruptly, no answer
  --store-then-fail-rate R    record the data, then answer 500
  --gate N                    hold requests until N wait, then release all
  --threads N                 io threads (default 1)
  --prefault-mib N            fault in N MiB of the first io thread's heap at
                              startup (benchmarks: the first second then
                              measures the sender, not the receiver's page
                              faults; default 0)
  --tls-cert PEM --tls-key PEM   serve HTTPS
  --seed N                    random seed for the fault rates
  --dcr-client ID=SECRET      a Logs Ingestion API client (repeatable)
  --token-ttl S               lifetime of issued tokens (default 3600)
  --token-fail-rate R         answer token requests 503 at this rate
Runtime: GET /stats, GET|POST /control with a JSON body of fault fields.
)";

class WallClock final : public Clock {
 public:
  TimeMs NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

struct Flags {
  ServerConfig server;
  FaultConfig faults;
  WorkspaceKeys keys;
  std::string out;
  OutFormat out_format = OutFormat::kRecords;
  std::string port_file;
  int threads = 1;
  uint64_t prefault_mib = 0;
  uint64_t seed = 0;
  bool has_seed = false;
};

absl::Status ReadFile(const std::string& path, std::string* text) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  *text = buffer.str();
  return absl::OkStatus();
}

absl::Status ParseListen(std::string_view text, ServerConfig* server) {
  const size_t colon = text.rfind(':');
  int port = -1;
  if (colon == std::string_view::npos ||
      !absl::SimpleAtoi(ToAbsl(text.substr(colon + 1)), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen wants HOST:PORT, got ", ToAbsl(text)));
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  server->host = std::string(host);
  server->port = static_cast<uint16_t>(port);
  return absl::OkStatus();
}

absl::Status Rate(std::string_view flag, std::string_view value, double* out) {
  if (!absl::SimpleAtod(ToAbsl(value), out) || *out < 0 || *out > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(flag), " wants a rate in [0, 1]"));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status Number(std::string_view flag, std::string_view value, T* out) {
  if (!absl::SimpleAtoi(ToAbsl(value), out) || *out < 0) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(flag), " wants a number"));
  }
  return absl::OkStatus();
}

// The field behind a flag that takes a plain string, or nullptr.
std::string* StringFlag(std::string_view flag, Flags* f) {
  if (flag == "--port-file") return &f->port_file;
  if (flag == "--out") return &f->out;
  if (flag == "--tls-cert") return &f->server.tls_cert;
  if (flag == "--tls-key") return &f->server.tls_key;
  return nullptr;
}

// One "--flag value" pair.
absl::Status ApplyFlag(std::string_view flag, const std::string& value, Flags* f) {
  if (std::string* field = StringFlag(flag, f)) {
    *field = value;
    return absl::OkStatus();
  }
  if (flag == "--listen") return ParseListen(value, &f->server);
  if (flag == "--workspace") {
    const size_t eq = value.find('=');
    if (eq == std::string::npos) return absl::InvalidArgumentError("--workspace ID=KEY");
    return f->keys.Add(value.substr(0, eq), value.substr(eq + 1));
  }
  if (flag == "--workspaces-file") {
    std::string text;
    if (absl::Status s = ReadFile(value, &text); !s.ok()) return s;
    return f->keys.AddLines(text);
  }
  if (flag == "--any-workspace") return f->keys.SetAnyWorkspaceKey(value);
  if (flag == "--out-format") {
    if (value == "records") {
      f->out_format = OutFormat::kRecords;
    } else if (value == "ids") {
      f->out_format = OutFormat::kIds;
    } else {
      return absl::InvalidArgumentError("--out-format records|ids");
    }
    return absl::OkStatus();
  }
  if (flag == "--dcr-client") return AddDcrClient(value, &f->server.dcr);
  if (flag == "--token-fail-rate") return Rate(flag, value, &f->server.dcr.token_fail_rate);
  if (flag == "--token-ttl") {
    TimeMs seconds = 0;
    if (absl::Status s = Number(flag, value, &seconds); !s.ok()) return s;
    f->server.dcr.token_ttl_ms = seconds * kSecondMs;
    return absl::OkStatus();
  }
  if (flag == "--fail-rate") return Rate(flag, value, &f->faults.fail_rate);
  if (flag == "--timeout-rate") return Rate(flag, value, &f->faults.timeout_rate);
  if (flag == "--reset-rate") return Rate(flag, value, &f->faults.reset_rate);
  if (flag == "--store-then-fail-rate") {
    return Rate(flag, value, &f->faults.store_then_fail_rate);
  }
  if (flag == "--fail-status") return Number(flag, value, &f->faults.fail_status);
  if (flag == "--retry-after") return Number(flag, value, &f->faults.retry_after_s);
  if (flag == "--fail-window") return ParseFailWindow(value, &f->faults);
  if (flag == "--latency-ms") return Number(flag, value, &f->faults.latency_ms);
  if (flag == "--timeout-close-ms")
    return Number(flag, value, &f->faults.timeout_close_ms);
  if (flag == "--gate") return Number(flag, value, &f->faults.gate);
  if (flag == "--threads") return Number(flag, value, &f->threads);
  if (flag == "--prefault-mib") return Number(flag, value, &f->prefault_mib);
  if (flag == "--seed") {
    f->has_seed = true;
    return Number(flag, value, &f->seed);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown flag ", ToAbsl(flag)));
}

absl::Status ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    if (const size_t eq = arg.find('=');
        absl::StartsWith(arg, "--") && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
    }
    if (absl::Status s = ApplyFlag(arg, value, flags); !s.ok()) return s;
  }
  if (flags->threads < 1) return absl::InvalidArgumentError("--threads must be >= 1");
  if (flags->prefault_mib > 65536) {
    return absl::InvalidArgumentError("--prefault-mib must be at most 65536 (64 GiB)");
  }
  if (flags->server.tls_cert.empty() != flags->server.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  return absl::OkStatus();
}

absl::Status WritePortFile(const std::string& path, uint16_t port) {
  // Write then rename: a reader never sees a half-written port.
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << port << "\n";
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", temp));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename to ", path));
  }
  return absl::OkStatus();
}

int Run(int argc, char** argv) {
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::cout << kUsage;
    return 0;
  }
  Flags flags;
  if (absl::Status s = ParseFlags(argc, argv, &flags); !s.ok()) {
    std::cerr << "fake_sentinel: " << s.message() << "\n" << kUsage;
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  // outboxd's malloc settings, before any thread starts: with glibc's
  // defaults (and no huge pages) the receiver's first second of a bench
  // run went to 4 KiB page faults as its heap grew for ~600 KB bodies
  // (docs/performance.md, "the receiver's read buffer and allocator").
  outboxd::TuneAllocator();
  // This thread runs the io_context (the first of --threads). On the bench's
  // VM the receiver's heap growing by ~70 MiB took most of a CPU for the
  // first half second, and outboxd's requests waited for it
  // (docs/performance.md, "Prefaulted heaps").
  outboxd::PrefaultHeap(flags.prefault_mib << 20);
  // Benches and tests hold thousands of connections open at once; with the
  // common soft limit of 1,024 the rest would wait unaccepted until the
  // sender times out.
  if (const uint64_t fds = RaiseOpenFileLimit(); fds < 8192) {
    std::cerr << "fake_sentinel: warning: only " << fds
              << " file descriptors; connections beyond that wait in the accept queue\n";
  }
  absl::StatusOr<std::unique_ptr<RecordWriter>> writer =
      RecordWriter::Open(flags.out, flags.out_format);
  if (!writer.ok()) {
    std::cerr << "fake_sentinel: " << writer.status().message() << "\n";
    return 1;
  }
  WallClock clock;
  boost::asio::io_context io(flags.threads);
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(
      io, &clock, flags.server, std::move(flags.keys), flags.faults, *std::move(writer),
      flags.has_seed ? flags.seed : std::random_device{}());
  if (!server.ok()) {
    std::cerr << "fake_sentinel: " << server.status().message() << "\n";
    return 1;
  }
  const uint16_t port = (*server)->port();
  if (!flags.port_file.empty()) {
    if (absl::Status s = WritePortFile(flags.port_file, port); !s.ok()) {
      std::cerr << "fake_sentinel: " << s.message() << "\n";
      return 1;
    }
  }
  const bool v6 = flags.server.host.find(':') != std::string::npos;
  std::cout << "listening on " << (v6 ? "[" : "") << flags.server.host << (v6 ? "]" : "")
            << ":" << port << std::endl;

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](const boost::system::error_code&, int) { io.stop(); });
  std::vector<std::thread> threads;
  for (int i = 1; i < flags.threads; ++i) threads.emplace_back([&io] { io.run(); });
  io.run();
  for (std::thread& t : threads) t.join();
  (*server)->Stop();  // flushes the records
  return 0;
}

}  // namespace
}  // namespace outboxd::fake_sentinel

int main(int argc, char** argv) { return outboxd::fake_sentinel::Run(argc, argv); }
