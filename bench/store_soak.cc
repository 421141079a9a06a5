// Soak of the outbox's due scan against tombstones: enqueue a batch of
// ~700-byte deliveries, scan them as the dispatcher does (from the cursor,
// bounded), remove them, again and again, on a real RocksDB with the
// production options (flushes and compactions happen as they would). Every
// `--report` deliveries it prints one JSON line: deliveries so far, the mean
// and p99 wall time of one ScanDue, the internal keys (tombstones, shadowed
// versions) the scans stepped over, the time of OldestDue, and RSS. If
// delivered keys piled up in front of the scans, the skipped keys and the
// scan time would grow with the deliveries; flat lines mean they do not.
//
//   store_soak --deliveries 10000000 --batch 1000 --report 250000 [--sync]
//              [--single-deletes] [--fresh-cache]
//
// Delivered keys are removed as the dispatcher removes them
// (Changes::RemoveAll: range tombstones over runs of consecutive sequence
// numbers); --single-deletes removes each with its own SingleDelete.
//
// Every scan reads RocksDB: the store's fresh-delivery cache, which would
// hand the just-enqueued batch out from memory, is off unless
// --fresh-cache (docs/storage.md). Backlogs, retries and restarts take the
// RocksDB path, so that is the one soaked.
//
// A second integration with a constant small queue sits right below the
// soaked one, so its scans run into the soaked integration's range bound.

#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "outboxd/store.h"

namespace outboxd {
namespace {

using Clock = std::chrono::steady_clock;

std::string Event(uint64_t i) {
  std::string e = "{\"id\":\"soak-" + std::to_string(i) +
                  "\",\"company_id\":1,\"event_type\":\"hit\",\"excerpt\":\"";
  e.append(640, static_cast<char>('a' + i % 26));
  e += "\"}";
  return e;
}

long RssKib() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long pages = 0, resident = 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

int Run(int argc, char** argv) {
  uint64_t deliveries = 10'000'000, batch = 1000, report = 250'000;
  bool sync = false, single_deletes = false, fresh_cache = false;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : "0"; };
    if (a == "--deliveries") deliveries = std::strtoull(next(), nullptr, 10);
    else if (a == "--batch") batch = std::max<uint64_t>(1, std::strtoull(next(), nullptr, 10));
    else if (a == "--report") report = std::max<uint64_t>(1, std::strtoull(next(), nullptr, 10));
    else if (a == "--sync") sync = true;
    else if (a == "--single-deletes") single_deletes = true;
    else if (a == "--fresh-cache") fresh_cache = true;
    else if (a == "--dir") dir = next();
    else {
      std::fprintf(stderr,
                   "usage: store_soak [--deliveries N] [--batch B] [--report R] [--sync] "
                   "[--single-deletes] [--fresh-cache] [--dir D]\n");
      return 2;
    }
  }
  bool own_dir = false;
  if (dir.empty()) {
    std::string tmpl = "/tmp/outboxd-soak-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) return 1;
    dir = tmpl;
    own_dir = true;
  }
  int rc = 0;
  {
    StoreOptions options;
    options.path = dir;
    options.sync = sync;
    if (!fresh_cache) options.fresh_cache_bytes = 0;
    auto opened = OutboxStore::Open(options);
    if (!opened.ok()) {
      std::fprintf(stderr, "store_soak: %s\n", opened.status().ToString().c_str());
      return 1;
    }
    std::unique_ptr<OutboxStore> store = *std::move(opened);
    std::vector<std::string> events;
    for (int i = 0; i < 64; ++i) events.push_back(Event(i));
    const TimeMs t0 = 1'700'000'000'000;
    // The neighbour: 10 deliveries queued below, never removed.
    {
      Changes c = store->NewChanges();
      for (int i = 0; i < 10; ++i) c.Enqueue(1, "hits", events[0], t0, t0);
      if (!store->Apply(std::move(c)).ok()) return 1;
    }
    std::vector<double> scan_us;
    uint64_t skipped = 0, scans = 0, done = 0, next_report = report;
    double neighbour_skipped = 0, oldest_us = 0;
    const auto start = Clock::now();
    std::vector<DeliveryKey> got;
    while (done < deliveries) {
      const TimeMs now = t0 + static_cast<TimeMs>(done / batch);
      Changes c = store->NewChanges();
      for (uint64_t i = 0; i < batch; ++i) c.Enqueue(2, "hits", events[(done + i) % 64], now, now);
      if (absl::Status s = store->Apply(std::move(c)); !s.ok()) {
        std::fprintf(stderr, "store_soak: %s\n", s.ToString().c_str());
        rc = 1;
        break;
      }
      got.clear();
      const auto s0 = Clock::now();
      auto n = store->ScanDue(2, now, batch, [&](Delivery&& d) { got.push_back(d.key); });
      scan_us.push_back(Micros(Clock::now() - s0));
      skipped += OutboxStore::LastScanSkippedInternalKeys();
      ++scans;
      if (!n.ok() || got.size() != batch) {
        std::fprintf(stderr, "store_soak: scan returned %zu of %llu\n", got.size(),
                     static_cast<unsigned long long>(batch));
        rc = 1;
        break;
      }
      Changes r = store->NewChanges();
      if (single_deletes) {
        for (const DeliveryKey& k : got) r.Remove(k);
      } else {
        r.RemoveAll(got);
      }
      if (!store->Apply(std::move(r)).ok()) {
        rc = 1;
        break;
      }
      done += batch;
      if (done >= next_report || done >= deliveries) {
        next_report += report;
        store->ResetCursor(1);  // the neighbour scans from its head to the bound
        (void)store->ScanDue(1, INT64_MAX, 100, [](Delivery&&) {});
        neighbour_skipped = static_cast<double>(OutboxStore::LastScanSkippedInternalKeys());
        const auto o0 = Clock::now();
        (void)store->OldestDue(2);
        oldest_us = Micros(Clock::now() - o0);
        std::sort(scan_us.begin(), scan_us.end());
        double sum = 0;
        for (double v : scan_us) sum += v;
        std::printf(
            "{\"deliveries\": %llu, \"seconds\": %.2f, \"scans\": %llu, \"scan_us_mean\": %.1f, "
            "\"scan_us_p99\": %.1f, \"skipped_per_scan\": %.2f, \"neighbour_skipped\": %.0f, "
            "\"oldest_due_us\": %.1f, \"rss_mib\": %.1f}\n",
            static_cast<unsigned long long>(done),
            std::chrono::duration<double>(Clock::now() - start).count(),
            static_cast<unsigned long long>(scans), sum / scan_us.size(),
            scan_us[std::min(scan_us.size() - 1, scan_us.size() * 99 / 100)],
            static_cast<double>(skipped) / scans, neighbour_skipped, oldest_us,
            RssKib() / 1024.0);
        std::fflush(stdout);
        scan_us.clear();
        skipped = scans = 0;
      }
    }
  }
  if (own_dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return rc;
}

}  // namespace
}  // namespace outboxd

int main(int argc, char** argv) { return outboxd::Run(argc, argv); }
