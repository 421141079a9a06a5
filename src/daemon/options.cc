#include "daemon/options.h"

#include <cstdlib>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "outboxd/strings.h"

namespace outboxd {
namespace {

struct OptionSpec {
  const char* name;  // without "--"
  const char* env;   // nullptr: no variable
  const char* value_hint;  // nullptr: a switch
  const char* help;
  std::function<absl::Status(DaemonOptions&, std::string_view)> set;
  std::function<std::string(const DaemonOptions&)> show;  // the default
};

template <typename T>
absl::Status SetNumber(std::string_view v, T* out) {
  if (!absl::SimpleAtoi(Sv(v), out)) return absl::InvalidArgumentError("not a whole number");
  return absl::OkStatus();
}

absl::Status SetBool(std::string_view v, bool* out) {
  std::string s = absl::AsciiStrToLower(Sv(v));
  if (s.empty() || s == "1" || s == "true" || s == "yes") *out = true;
  else if (s == "0" || s == "false" || s == "no") *out = false;
  else return absl::InvalidArgumentError("expected true or false");
  return absl::OkStatus();
}

std::string ShowDuration(TimeMs ms) {
  if (ms % kHourMs == 0 && ms >= kHourMs) return absl::StrCat(ms / kHourMs, "h");
  if (ms % kSecondMs == 0 && ms >= kSecondMs) return absl::StrCat(ms / kSecondMs, "s");
  return absl::StrCat(ms, "ms");
}

#define STR_FIELD(field) \
  [](DaemonOptions& o, std::string_view v) { o.field = std::string(v); return absl::OkStatus(); }, \
  [](const DaemonOptions& o) { return o.field; }
#define NUM_FIELD(field) \
  [](DaemonOptions& o, std::string_view v) { return SetNumber(v, &o.field); }, \
  [](const DaemonOptions& o) { return absl::StrCat(o.field); }
#define BOOL_FIELD(field) \
  [](DaemonOptions& o, std::string_view v) { return SetBool(v, &o.field); }, \
  [](const DaemonOptions& o) { return std::string(o.field ? "true" : "false"); }
#define DURATION_FIELD(field) \
  [](DaemonOptions& o, std::string_view v) { \
    auto d = ParseDuration(v); if (!d.ok()) return d.status(); o.field = *d; return absl::OkStatus(); }, \
  [](const DaemonOptions& o) { return ShowDuration(o.field); }
#define BYTES_FIELD(field) \
  [](DaemonOptions& o, std::string_view v) { \
    auto b = ParseBytes(v); if (!b.ok()) return b.status(); o.field = *b; return absl::OkStatus(); }, \
  [](const DaemonOptions& o) { return absl::StrCat(o.field); }

const std::vector<OptionSpec>& Specs() {
  static const std::vector<OptionSpec> specs = {
      {"data-dir", "OUTBOXD_DATA_DIR", "DIR", "Where the outbox, master key and tokens live.",
       STR_FIELD(data_dir)},
      {"listen", "OUTBOXD_LISTEN", "HOST:PORT", "HTTP API address (port 0 picks one).",
       STR_FIELD(listen)},
      {"admin-token", "OUTBOXD_ADMIN_TOKEN", "TOKEN",
       "Bearer token of the management API, /metrics. Generated into DIR/tokens when unset.",
       STR_FIELD(admin_token)},
      {"ingest-token", "OUTBOXD_INGEST_TOKEN", "TOKEN",
       "Bearer token of /v1/events and /v1/request-counts. Generated when unset.",
       STR_FIELD(ingest_token)},
      {"allow-endpoint-override", "OUTBOXD_ALLOW_ENDPOINT_OVERRIDE", nullptr,
       "Let an integration name its own base URL (tests, proxies). Off: a tenant must not make "
       "outboxd post to arbitrary hosts.",
       BOOL_FIELD(allow_endpoint_override)},
      {"ca-file", "OUTBOXD_CA_FILE", "FILE", "PEM bundle trusted for outgoing TLS (default: system).",
       STR_FIELD(ca_file)},
      {"insecure-skip-tls-verify", nullptr, nullptr,
       "Do not verify destination certificates. For tests only.", BOOL_FIELD(insecure_skip_tls_verify)},
      {"http2", "OUTBOXD_HTTP2", nullptr,
       "Send to destinations over HTTP/2, requests multiplexed on one connection per "
       "host. Default HTTP/1.1: a keep-alive connection per request in flight, less CPU "
       "with curl 7.88.",
       BOOL_FIELD(http2)},
      {"master-key-file", "OUTBOXD_MASTER_KEY_FILE", "FILE",
       "AES-256-GCM key for secrets at rest, created 0600 on first start (default DIR/master.key).",
       STR_FIELD(master_key_file)},
      {"health-window", "OUTBOXD_HEALTH_WINDOW", "DURATION", "Sliding window of the failure rule.",
       DURATION_FIELD(health_window_ms)},
      {"health-threshold", "OUTBOXD_HEALTH_THRESHOLD", "RATIO",
       "Failed share of requests that disables an integration.",
       [](DaemonOptions& o, std::string_view v) {
         double d;
         if (!absl::SimpleAtod(Sv(v), &d) || d <= 0 || d > 1)
           return absl::InvalidArgumentError("expected a ratio in (0, 1]");
         o.health_threshold = d;
         return absl::OkStatus();
       },
       [](const DaemonOptions& o) { return absl::StrCat(o.health_threshold); }},
      {"health-min-requests", "OUTBOXD_HEALTH_MIN_REQUESTS", "N",
       "Requests in the window before the failure rule applies.", NUM_FIELD(health_min_requests)},
      {"max-age", "OUTBOXD_MAX_AGE", "DURATION",
       "How long a delivery is retried before it goes to dead.", DURATION_FIELD(max_age_ms)},
      {"max-body", "OUTBOXD_MAX_BODY", "BYTES", "Largest request body accepted (413 above).",
       BYTES_FIELD(max_body_bytes)},
      {"disk-quota", "OUTBOXD_DISK_QUOTA", "BYTES",
       "Ingest answers 503 once the store uses this much disk (0 = no quota).",
       BYTES_FIELD(disk_quota_bytes)},
      {"store-write-buffer", "OUTBOXD_STORE_WRITE_BUFFER", "BYTES",
       "RocksDB memtable of the outbox. After a full disk, writing resumes once this much is "
       "free.",
       BYTES_FIELD(store_write_buffer_bytes)},
      {"store-block-cache", "OUTBOXD_STORE_BLOCK_CACHE", "BYTES", "RocksDB block cache.",
       BYTES_FIELD(store_block_cache_bytes)},
      {"store-fresh-cache", "OUTBOXD_STORE_FRESH_CACHE", "BYTES",
       "Copies of just-written deliveries the dispatcher takes without reading RocksDB "
       "(0 = always read RocksDB).",
       BYTES_FIELD(store_fresh_cache_bytes)},
      {"store-log-only", "OUTBOXD_STORE_LOG_ONLY", "BOOL",
       "Write the deliveries that go to the fresh cache to the write-ahead log only (no "
       "memtable), rewriting the ones still queued as ordinary entries at each checkpoint "
       "and after a crash; costs less CPU per event. Needs --store-fresh-cache. false = "
       "every delivery is an ordinary entry.",
       BOOL_FIELD(store_log_only)},
      {"request-timeout", "OUTBOXD_REQUEST_TIMEOUT", "DURATION",
       "A request to a destination that has not been answered by then fails (and is retried).",
       DURATION_FIELD(request_timeout_ms)},
      {"prefault-memory", "OUTBOXD_PREFAULT_MEMORY", "BYTES",
       "Heap memory faulted in at startup, before the API listens, so the first second under "
       "load does not wait for the kernel to map and zero it: a fifth in the dispatcher's heap, "
       "the rest spread over the ingest workers' heaps (RocksDB's memtables). Resident from "
       "the start. 0 = off.",
       BYTES_FIELD(prefault_bytes)},
      {"http-threads", "OUTBOXD_HTTP_THREADS", "N", "HTTP I/O threads.", NUM_FIELD(http_threads)},
      {"ingest-workers", "OUTBOXD_INGEST_WORKERS", "N",
       "Threads that make ingest requests durable (they share fsyncs).", NUM_FIELD(ingest_workers)},
      {"ingest-parse-concurrency", "OUTBOXD_INGEST_PARSE_CONCURRENCY", "N",
       "Ingest bodies parsed at once (0 = the number of CPUs; the other workers wait for "
       "fsyncs).",
       NUM_FIELD(ingest_parse_concurrency)},
      {"max-in-flight", "OUTBOXD_MAX_IN_FLIGHT", "N", "Requests to destinations in flight, in all.",
       NUM_FIELD(max_in_flight)},
      {"max-in-flight-per-integration", "OUTBOXD_MAX_IN_FLIGHT_PER_INTEGRATION", "N",
       "Requests in flight per integration.", NUM_FIELD(max_in_flight_per_integration)},
      {"max-held-bytes", "OUTBOXD_MAX_HELD_BYTES", "BYTES",
       "Event bytes the dispatcher holds in memory (batching, in flight), in all: with the "
       "store's memtables and cache, what bounds the RSS while a backlog drains.",
       BYTES_FIELD(max_held_bytes)},
      {"batch-max-bytes", "OUTBOXD_BATCH_MAX_BYTES", "BYTES",
       "Largest request body sent (Data Collector API: at most 30 MB).", BYTES_FIELD(batch_max_bytes)},
      {"batch-max-records", "OUTBOXD_BATCH_MAX_RECORDS", "N", "Most records per request.",
       NUM_FIELD(batch_max_records)},
      {"linger", "OUTBOXD_LINGER", "DURATION",
       "How long a partial batch waits for more records.", DURATION_FIELD(linger_ms)},
      {"max-host-connections", "OUTBOXD_MAX_HOST_CONNECTIONS", "N",
       "Connections per destination host.", NUM_FIELD(max_host_connections)},
      {"resolve", nullptr, "HOST:PORT:ADDR",
       "Pin a host name to an address (repeatable; benchmarks).",
       [](DaemonOptions& o, std::string_view v) {
         o.resolve.emplace_back(v);
         return absl::OkStatus();
       },
       [](const DaemonOptions&) { return std::string(); }},
      {"connect-to", nullptr, "HOST:PORT:ADDR:PORT",
       "Send requests for HOST:PORT to ADDR:PORT; an empty HOST or PORT matches any "
       "(repeatable; benchmarks).",
       [](DaemonOptions& o, std::string_view v) {
         o.connect_to.emplace_back(v);
         return absl::OkStatus();
       },
       [](const DaemonOptions&) { return std::string(); }},
      {"log-level", "OUTBOXD_LOG_LEVEL", "LEVEL", "debug, info, warn or error.", STR_FIELD(log_level)},
      {"shutdown-grace", "OUTBOXD_SHUTDOWN_GRACE", "DURATION",
       "On SIGTERM, how long requests in flight may finish.", DURATION_FIELD(shutdown_grace_ms)},
      {"help", nullptr, nullptr, "Show this text.", BOOL_FIELD(help)},
  };
  return specs;
}

const OptionSpec* Find(std::string_view name) {
  for (const auto& s : Specs())
    if (name == s.name) return &s;
  return nullptr;
}

}  // namespace

absl::StatusOr<TimeMs> ParseDuration(std::string_view text) {
  static constexpr std::pair<std::string_view, TimeMs> kUnits[] = {
      {"ms", 1}, {"s", kSecondMs}, {"m", kMinuteMs}, {"h", kHourMs}, {"d", 24 * kHourMs}};
  for (const auto& [suffix, unit] : kUnits) {
    if (text.size() > suffix.size() && absl::EndsWith(Sv(text), Sv(suffix))) {
      std::string_view number = text.substr(0, text.size() - suffix.size());
      if (suffix == "s" && absl::EndsWith(Sv(number), "m")) continue;  // "ms" handled first
      double v;
      if (absl::SimpleAtod(Sv(number), &v) && v >= 0 && v * unit < 9e15)
        return static_cast<TimeMs>(v * unit);
      break;
    }
  }
  double seconds;
  if (absl::SimpleAtod(Sv(text), &seconds) && seconds >= 0 && seconds < 9e12)
    return static_cast<TimeMs>(seconds * kSecondMs);
  return absl::InvalidArgumentError(
      absl::StrCat("'", Sv(text), "' is not a duration (e.g. 500ms, 30s, 10m, 12h, 7d)"));
}

absl::StatusOr<uint64_t> ParseBytes(std::string_view text) {
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"KB", 1ull << 10},
      {"MB", 1ull << 20},  {"GB", 1ull << 30},  {"K", 1ull << 10},   {"M", 1ull << 20},
      {"G", 1ull << 30},   {"B", 1}};
  uint64_t unit = 1;
  std::string_view number = text;
  for (const auto& [suffix, u] : kUnits) {
    if (absl::EndsWith(Sv(text), Sv(suffix))) {
      number = text.substr(0, text.size() - suffix.size());
      unit = u;
      break;
    }
  }
  uint64_t v;
  if (!absl::SimpleAtoi(Sv(number), &v) || v > UINT64_MAX / unit)
    return absl::InvalidArgumentError(absl::StrCat("'", Sv(text), "' is not a size (e.g. 16MB)"));
  return v * unit;
}

absl::StatusOr<DaemonOptions> ParseDaemonOptions(int argc, char** argv,
                                                 const char* (*getenv_fn)(const char*)) {
  DaemonOptions o;
  for (const auto& spec : Specs()) {
    if (spec.env == nullptr) continue;
    const char* v = getenv_fn(spec.env);
    if (v == nullptr) continue;
    if (absl::Status s = spec.set(o, v); !s.ok())
      return absl::InvalidArgumentError(absl::StrCat(spec.env, ": ", s.message()));
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!absl::StartsWith(Sv(arg), "--"))
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", Sv(arg), "'"));
    arg.remove_prefix(2);
    std::string_view name = arg, value;
    bool inline_value = false;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inline_value = true;
    }
    const OptionSpec* spec = Find(name);
    if (spec == nullptr)
      return absl::InvalidArgumentError(absl::StrCat("unknown option --", Sv(name), " (see --help)"));
    if (!inline_value && spec->value_hint != nullptr) {
      if (i + 1 >= argc)
        return absl::InvalidArgumentError(absl::StrCat("--", Sv(name), " needs a value"));
      value = argv[++i];
    }
    if (absl::Status s = spec->set(o, value); !s.ok())
      return absl::InvalidArgumentError(absl::StrCat("--", Sv(name), ": ", s.message()));
  }
  return o;
}

std::string DaemonUsage() {
  DaemonOptions defaults;
  std::string out =
      "outboxd: delivers security events to SIEMs, durably.\n\n"
      "Usage: outboxd [--option value]...\n\n"
      "Options (flag, environment variable, default):\n";
  for (const auto& s : Specs()) {
    std::string flag = absl::StrCat("  --", s.name, s.value_hint ? absl::StrCat(" ", s.value_hint) : "");
    absl::StrAppend(&out, flag, "\n      ", s.help, "\n");
    std::string def = s.show(defaults);
    if (s.env != nullptr) absl::StrAppend(&out, "      env ", s.env);
    if (!def.empty() && s.value_hint != nullptr)
      absl::StrAppend(&out, s.env ? "; " : "      ", "default ", def);
    if (s.env != nullptr || (!def.empty() && s.value_hint != nullptr)) out += "\n";
  }
  out +=
      "\nDurations: 500ms, 30s, 10m, 12h, 7d. Sizes: 1000, 512KiB, 16MB (powers of 1024).\n"
      "SIGTERM/SIGINT: stop accepting, let requests in flight finish (--shutdown-grace), flush, "
      "exit 0.\n";
  return out;
}

}  // namespace outboxd
