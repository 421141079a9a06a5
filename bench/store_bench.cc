// Store throughput with fsync on (StoreOptions::sync, the production
// setting): enqueue 1,000 ~700-byte deliveries in one Apply, then scan them
// and remove them in one Apply. A second variant has 8 threads each applying
// 100-delivery batches at once, which RocksDB group-commits (many writers,
// one fsync). Reports items/s. Runs in a temporary directory under /tmp.
// BM_BuildIngestBatch1000 times building one ingest's WriteBatch alone
// (CPU, no write), with and without sizing it up front. BM_FreshWriteTake
// times the due index's fresh list alone: writes of 500 listed, one of them
// committed out of order, taken by 1,000. BM_DurableWriteRemove1000 and
// BM_AppendLogFloor1000 count the CPU of every thread of the process: the
// store's durable write and removal of 1,000 deliveries, against the least
// an append-only log of outboxd's own would do for them, and against raw
// RocksDB writing them as Puts or as WAL-only records
// (BM_RocksDbWriteRemove1000).
//
//   build-store/bench/store_bench --benchmark_min_time=2

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "outboxd/store.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "store/crc32c.h"
#include "store/due_index.h"
#include "store/keys.h"

namespace outboxd {
namespace {

constexpr TimeMs kNow = 1'700'000'000'000;

// A realistic ~700-byte hit record.
std::string HitEvent(int i) {
  std::string e =
      R"({"id":"hit-)" + std::to_string(i) +
      R"(","company_id":42,"event_type":"hit","occurred_at":"2024-05-01T12:00:00Z",)"
      R"("domain":"shop.example.com","method":"POST","path":"/api/v2/checkout/confirm",)"
      R"("point":["post","json_doc","hash","card"],"remote_addr4":"203.0.113.77",)"
      R"("type":"sqli","block_status":"blocked","attack_id":"a1b2c3d4e5f6",)"
      R"("payloads":["1' UNION SELECT username, password FROM users--"],)"
      R"("user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 )"
      R"((KHTML, like Gecko) Chrome/124.0 Safari/537.36","status_code":403,)"
      R"("request_id":"0f4e8c2a9b7d6e5f4a3b2c1d0e9f8a7b","node":"filtering-node-3",)"
      R"("application_id":17,"application_name":"checkout","tags":["pci","prod"],)"
      R"("headers_size":912,"body_size":2048,"ip_country":"NL","tor":false})";
  return e;
}

std::vector<std::string> HitEvents(int n) {
  std::vector<std::string> events;
  for (int i = 0; i < n; ++i) events.push_back(HitEvent(i));
  return events;
}

class TempStore {
 public:
  TempStore() {
    std::string tmpl = "/tmp/outboxd-store-bench-XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) dir_ = tmpl;
    StoreOptions options;
    options.path = dir_;
    options.sync = true;
    auto store = OutboxStore::Open(options);
    if (store.ok()) store_ = *std::move(store);
  }
  ~TempStore() {
    store_.reset();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  OutboxStore* get() const { return store_.get(); }

 private:
  std::string dir_;
  std::unique_ptr<OutboxStore> store_;
};

void BM_EnqueueScanRemove1000(benchmark::State& state) {
  TempStore temp;
  OutboxStore* store = temp.get();
  if (store == nullptr) {
    state.SkipWithError("cannot open the store");
    return;
  }
  const std::vector<std::string> events = HitEvents(1000);
  std::vector<DeliveryKey> held;
  held.reserve(1000);
  for (auto _ : state) {
    Changes in = store->NewChanges();
    for (const std::string& e : events) in.Enqueue(1, "new_hits", e, kNow, kNow);
    if (!store->Apply(std::move(in)).ok()) state.SkipWithError("apply failed");
    held.clear();
    auto n = store->ScanDue(1, kNow, 1000, [&](Delivery&& d) { held.push_back(d.key); });
    if (!n.ok() || *n != 1000) state.SkipWithError("scan failed");
    Changes out = store->NewChanges();
    for (const DeliveryKey& k : held) out.Remove(k);
    if (!store->Apply(std::move(out)).ok()) state.SkipWithError("remove failed");
  }
  state.SetItemsProcessed(state.iterations() * 1000);
  state.SetBytesProcessed(state.iterations() * 1000 *
                          static_cast<int64_t>(events[0].size()));
}
BENCHMARK(BM_EnqueueScanRemove1000)->Unit(benchmark::kMillisecond)->UseRealTime();

// The fresh path's store work for 1,000 deliveries, as outboxd does it at
// full load: written fsync-durable in one Apply (an ingest), then removed
// in one Apply once the sink answered (the dispatcher's commit: it knows the
// keys, so nothing is read back). Process CPU time: RocksDB's flush and
// compaction threads count, and the flush walks every removed entry.
void BM_DurableWriteRemove1000(benchmark::State& state) {
  TempStore temp;
  OutboxStore* store = temp.get();
  if (store == nullptr) {
    state.SkipWithError("cannot open the store");
    return;
  }
  const std::vector<std::string> events = HitEvents(1000);
  std::vector<DeliveryKey> keys;
  keys.reserve(1000);
  for (auto _ : state) {
    Changes in = store->NewChanges();
    keys.clear();
    for (const std::string& e : events)
      keys.push_back(in.Enqueue(1, "new_hits", e, kNow, kNow));
    if (!store->Apply(std::move(in)).ok()) state.SkipWithError("apply failed");
    Changes out = store->NewChanges();
    out.RemoveAll(keys);
    if (!store->Apply(std::move(out)).ok()) state.SkipWithError("remove failed");
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_DurableWriteRemove1000)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// A floor, not a design: the least an append-only outbox log of outboxd's
// own would do for the same 1,000 deliveries. Each record framed (length,
// CRC-32C, sequence number) and copied once into a buffer, one write and
// one fdatasync; then a 16-byte "delivered up to" record written without
// a sync, as the dispatcher's commits are. The file is cut back to nothing
// every 64 MiB (a segment recycled). No index, no recovery, no retries:
// what the durable write itself costs when nothing else is kept.
void BM_AppendLogFloor1000(benchmark::State& state) {
  std::string dir = "/tmp/outboxd-log-bench-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  const std::string path = dir + "/log";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  std::error_code ec;
  if (fd < 0) {
    state.SkipWithError("open failed");
    std::filesystem::remove_all(dir, ec);
    return;
  }
  const std::vector<std::string> events = HitEvents(1000);
  std::string buffer;
  uint64_t seq = 0;
  uint64_t written = 0;
  const auto put = [&buffer](const void* p, size_t n) {
    buffer.append(static_cast<const char*>(p), n);
  };
  for (auto _ : state) {
    buffer.clear();
    for (const std::string& e : events) {
      const uint32_t len = static_cast<uint32_t>(e.size());
      const uint32_t crc = store_internal::Crc32cExtend(0, e.data(), e.size());
      ++seq;
      put(&len, sizeof len);
      put(&crc, sizeof crc);
      put(&seq, sizeof seq);
      buffer.append(e);
    }
    if (write(fd, buffer.data(), buffer.size()) != static_cast<ssize_t>(buffer.size()) ||
        fdatasync(fd) != 0) {
      state.SkipWithError("write failed");
      break;
    }
    const uint64_t done[2] = {~uint64_t{0}, seq};
    if (write(fd, done, sizeof done) != static_cast<ssize_t>(sizeof done)) {
      state.SkipWithError("write failed");
      break;
    }
    written += buffer.size() + sizeof done;
    if (written > (64u << 20)) {
      if (ftruncate(fd, 0) != 0) state.SkipWithError("ftruncate failed");
      written = 0;
    }
  }
  close(fd);
  std::filesystem::remove_all(dir, ec);
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_AppendLogFloor1000)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// A measurement for a design not built: what RocksDB itself asks for 1,000
// deliveries written fsync-durable and then removed by one range
// tombstone, with each delivery (24-byte key and value) either a Put into
// the memtable (arg 0, the store's path without outboxd's own work) or a
// WAL-only record (arg 1, WriteBatch::PutLogData: written and synced in the
// WAL, never inserted, never flushed; recovery would have to turn it back
// into a Put, e.g. with a WalFilter, and nothing here does). Raw RocksDB
// with the store's memtable size and key encoding, process CPU time as
// above. Run each arg in a process of its own: the second inherits the
// first's page-cache writeback.
void BM_RocksDbWriteRemove1000(benchmark::State& state) {
  const bool wal_only = state.range(0) != 0;
  std::string dir = "/tmp/outboxd-rocks-bench-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  options.write_buffer_size = 64u << 20;
  // The memtable path rolls its WAL with every 64 MiB memtable; the
  // WAL-only one fills no memtable, so its WAL is rolled at the same size.
  options.max_total_wal_size = (wal_only ? 64u : 256u) << 20;
  rocksdb::DB* raw = nullptr;
  std::error_code ec;
  if (!rocksdb::DB::Open(options, dir, &raw).ok()) {
    state.SkipWithError("cannot open RocksDB");
    std::filesystem::remove_all(dir, ec);
    return;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  const std::vector<std::string> events = HitEvents(1000);
  const auto key = [](uint64_t seq) {
    return store_internal::OutboxKey(1, store_internal::OutboxPos{kNow, seq});
  };
  uint64_t seq = 1;
  std::string record;
  for (auto _ : state) {
    rocksdb::WriteBatch in;
    const uint64_t first = seq;
    for (const std::string& e : events) {
      const std::string k = key(seq++);
      if (wal_only) {
        record.assign(k).append(e);
        in.PutLogData(record);
      } else {
        in.Put(k, e);
      }
    }
    if (!db->Write(sync, &in).ok()) state.SkipWithError("write failed");
    rocksdb::WriteBatch out;
    out.DeleteRange(key(first), key(seq));
    if (!db->Write(rocksdb::WriteOptions(), &out).ok())
      state.SkipWithError("remove failed");
  }
  state.SetItemsProcessed(state.iterations() * 1000);
  db.reset();
  std::filesystem::remove_all(dir, ec);
}
BENCHMARK(BM_RocksDbWriteRemove1000)
    ->Arg(0)
    ->Arg(1)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// CPU only: building the WriteBatch of one 1,000-event ingest (what an
// ingest worker does before RocksDB's Write), never applied. Arg 1 sizes
// the batch up front as Registry::IngestDurably does, arg 0 lets it grow.
void BM_BuildIngestBatch1000(benchmark::State& state) {
  const std::vector<std::string> events = HitEvents(1000);
  size_t reserve = 0;
  if (state.range(0) != 0)
    for (const std::string& e : events) reserve += e.size() + 64;
  TempStore temp;
  OutboxStore* store = temp.get();
  if (store == nullptr) {
    state.SkipWithError("cannot open the store");
    return;
  }
  for (auto _ : state) {
    Changes in = store->NewChanges(reserve);
    for (const std::string& e : events) in.Enqueue(1, "new_hits", e, kNow, kNow);
    benchmark::DoNotOptimize(in.empty());
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_BuildIngestBatch1000)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// The due index's fresh list, without RocksDB: per round, four writes of
// 500 deliveries of one integration (the third numbered before the second,
// as when two ingest workers commit out of order) are listed by OnWritten
// and taken by TakeFresh in chunks of 1,000, as the dispatcher does. The
// events share one buffer, as a write's do. Copying the prepared writes is
// part of the time.
void BM_FreshWriteTake(benchmark::State& state) {
  constexpr int kWrites = 4;
  constexpr int kPerWrite = 500;
  uint64_t next_seq = 1;
  store_internal::DueIndex index;
  index.EnableFresh(64ull << 20, [&next_seq] { return next_seq; });
  const std::string bytes = HitEvent(0);
  auto owner = std::make_shared<std::string>(bytes);
  std::vector<Delivery> out;
  for (auto _ : state) {
    std::vector<std::vector<Delivery>> writes(kWrites);
    for (int w = 0; w < kWrites; ++w) {
      // Seqs in write order 0, 2, 1, 3.
      const int slot = w == 1 ? 2 : w == 2 ? 1 : w;
      for (int i = 0; i < kPerWrite; ++i) {
        Delivery d;
        d.key = {1, kNow, next_seq + static_cast<uint64_t>(slot * kPerWrite + i)};
        d.first_enqueued_ms = kNow;
        d.log_type = "new_hits";
        d.event = SharedBytes(owner, *owner);
        writes[static_cast<size_t>(w)].push_back(std::move(d));
      }
    }
    for (std::vector<Delivery>& write : writes) {
      const DeliveryKey& first = write.front().key;
      index.OnWritten(1, store_internal::OutboxPos{first.due_ms, first.seq}, &write);
    }
    next_seq += kWrites * kPerWrite;
    size_t taken = 0;
    for (;;) {
      out.clear();
      const size_t n = index.TakeFresh(1, kNow, 1000, &out);
      if (n == 0) break;
      taken += n;
      benchmark::DoNotOptimize(out.data());
    }
    if (taken != kWrites * kPerWrite) state.SkipWithError("lost deliveries");
  }
  state.SetItemsProcessed(state.iterations() * kWrites * kPerWrite);
}
BENCHMARK(BM_FreshWriteTake)->Unit(benchmark::kMicrosecond);

// RocksDB's WAL checksum of one ~700-byte record: store/crc32c.cc (SSE4.2
// where the CPU has it; arg 1) against the portable table loop (arg 0), the
// one Debian's librocksdb runs. Arg 2: combining two CRCs, which RocksDB's
// file writer does for every WAL record.
void BM_Crc32cRecord(benchmark::State& state) {
  const std::string record = HitEvent(1);
  uint32_t crc = 0;
  for (auto _ : state) {
    switch (state.range(0)) {
      case 0: crc = store_internal::Crc32cExtendPortable(crc, record.data(), record.size()); break;
      case 1: crc = store_internal::Crc32cExtend(crc, record.data(), record.size()); break;
      default: crc = store_internal::Crc32cCombine(crc, 0x9abcdef0, record.size()); break;
    }
    benchmark::DoNotOptimize(crc);
  }
  if (state.range(0) < 2) state.SetBytesProcessed(state.iterations() * record.size());
  state.SetLabel(state.range(0) == 1 ? std::string(store_internal::Crc32cImplementation()) : "");
}
BENCHMARK(BM_Crc32cRecord)->Arg(0)->Arg(1)->Arg(2);

// A full WAL block (32 KiB, what RocksDB checksums per physical record under
// load): arg 0 the portable loop, arg 1 store/crc32c.cc's fast path.
void BM_Crc32cWalBlock(benchmark::State& state) {
  std::string block;
  while (block.size() < 32 * 1024) block += HitEvent(static_cast<int>(block.size()));
  block.resize(32 * 1024);
  uint32_t crc = 0;
  for (auto _ : state) {
    crc = state.range(0) == 0
              ? store_internal::Crc32cExtendPortable(crc, block.data(), block.size())
              : store_internal::Crc32cExtend(crc, block.data(), block.size());
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(state.iterations() * block.size());
}
BENCHMARK(BM_Crc32cWalBlock)->Arg(0)->Arg(1);

// Shared by the threads of the group-commit benchmark.
TempStore* shared_store = nullptr;

void BM_GroupCommit8x100(benchmark::State& state) {
  if (state.thread_index() == 0) shared_store = new TempStore();
  // Google Benchmark starts the timed loop of all threads together.
  const std::vector<std::string> events = HitEvents(100);
  for (auto _ : state) {
    OutboxStore* store = shared_store->get();
    if (store == nullptr) {
      state.SkipWithError("cannot open the store");
      break;
    }
    Changes c = store->NewChanges();
    for (const std::string& e : events) {
      c.Enqueue(static_cast<uint64_t>(state.thread_index()), "new_hits", e, kNow, kNow);
    }
    if (!store->Apply(std::move(c)).ok()) state.SkipWithError("apply failed");
  }
  state.SetItemsProcessed(state.iterations() * 100);
  if (state.thread_index() == 0) {
    delete shared_store;
    shared_store = nullptr;
  }
}
BENCHMARK(BM_GroupCommit8x100)->Threads(8)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace outboxd
