// outboxd's command line: every option has a flag, most an environment
// variable, and all have embedded defaults so `outboxd` starts with none.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "outboxd/clock.h"

namespace outboxd {

struct DaemonOptions {
  std::string data_dir = "outboxd-data";
  std::string listen = "127.0.0.1:8400";
  std::string admin_token;   // generated into <data-dir>/tokens when empty
  std::string ingest_token;  // likewise
  bool allow_endpoint_override = false;
  std::string ca_file;
  bool insecure_skip_tls_verify = false;
  // HTTP/2 to destinations (requests multiplexed per host) instead of
  // HTTP/1.1 (a keep-alive connection per request in flight). Off: with
  // Debian's curl 7.88 HTTP/1.1 sends a body with half the send() calls and
  // a fifth of the loop wake-ups, and costs less CPU (docs/performance.md).
  bool http2 = false;
  std::string master_key_file;  // default <data-dir>/master.key
  TimeMs health_window_ms = 12 * kHourMs;
  double health_threshold = 0.6;
  uint64_t health_min_requests = 20;
  TimeMs max_age_ms = 7 * 24 * kHourMs;
  uint64_t max_body_bytes = 16ull << 20;
  uint64_t disk_quota_bytes = 0;
  // RocksDB memtable size of the outbox (and the free space RocksDB wants
  // before it resumes writing after a full disk) and its block cache.
  uint64_t store_write_buffer_bytes = 64ull << 20;
  uint64_t store_block_cache_bytes = 64ull << 20;
  uint64_t store_fresh_cache_bytes = 32ull << 20;
  // Deliveries that go to the fresh cache are written to the WAL only
  // (StoreOptions::log_only_deliveries).
  bool store_log_only = true;
  // A request to a destination (connect, send, answer) fails after this.
  TimeMs request_timeout_ms = 30 * kSecondMs;
  // Heap memory faulted in at startup, before the API listens: a fifth for
  // the dispatcher, the rest spread over the ingest workers (two 64 MiB
  // outbox memtables, plus request bodies). 0 turns it off.
  uint64_t prefault_bytes = 160ull << 20;
  int http_threads = 2;
  int ingest_workers = 16;
  int ingest_parse_concurrency = 0;  // 0: the number of CPUs
  uint32_t max_in_flight = 8192;
  uint32_t max_in_flight_per_integration = 16;
  uint64_t max_held_bytes = 256ull << 20;
  uint64_t batch_max_bytes = 8ull << 20;
  // 2,000 ~700-byte hits make a ~1.4 MB body. Larger batches keep each
  // record in flight longer; at saturation more of them are still queued
  // when a memtable is flushed, and flushing and compacting live records
  // cost more than the extra requests save (docs/performance.md).
  uint32_t batch_max_records = 2000;
  TimeMs linger_ms = 5;
  long max_host_connections = 64;
  std::vector<std::string> resolve;
  std::vector<std::string> connect_to;
  std::string log_level = "info";
  TimeMs shutdown_grace_ms = 10 * kSecondMs;
  bool help = false;
};

// "500ms", "30s", "10m", "12h", "7d" (a bare number is seconds).
absl::StatusOr<TimeMs> ParseDuration(std::string_view text);
// "16MB", "512KiB", "2GB", "1000" (bytes); K/M/G are powers of 1024.
absl::StatusOr<uint64_t> ParseBytes(std::string_view text);

// Parses argv (flags `--name value` or `--name=value`) over the environment
// (`getenv`), over the defaults. InvalidArgument naming the flag otherwise.
absl::StatusOr<DaemonOptions> ParseDaemonOptions(int argc, char** argv,
                                                 const char* (*getenv_fn)(const char*));

// The --help text: every option, its variable and default.
std::string DaemonUsage();

}  // namespace outboxd
