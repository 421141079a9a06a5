// Helpers shared by the store tests: a temporary directory, opening a store,
// and scanning everything of an integration.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "outboxd/store.h"

namespace outboxd::store_test {

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "outboxd-store-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline StoreOptions TestOptions(const std::string& path, bool sync = false,
                                uint64_t fresh_cache_bytes = 1ull << 20) {
  StoreOptions options;
  options.path = path;
  options.sync = sync;
  options.write_buffer_bytes = 8ull << 20;
  options.block_cache_bytes = 8ull << 20;
  options.fresh_cache_bytes = fresh_cache_bytes;
  return options;
}

inline std::unique_ptr<OutboxStore> OpenOrDie(const StoreOptions& options) {
  absl::StatusOr<std::unique_ptr<OutboxStore>> store = OutboxStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

// A store on a scratch directory, reopened at will, for the store tests.
class StoreFixture : public ::testing::Test {
 protected:
  void SetUp() override { store_ = OpenOrDie(Options()); }
  void Reopen() {
    store_.reset();
    store_ = OpenOrDie(Options());
  }
  virtual StoreOptions Options() { return TestOptions(dir_.path()); }
  // Builds one Changes with `build` and applies it.
  absl::Status ApplyOne(auto&& build) {
    Changes c = store_->NewChanges();
    build(c);
    return store_->Apply(std::move(c));
  }

  ScratchDir dir_;
  std::unique_ptr<OutboxStore> store_;
};

// ScanDue with a collecting callback; fails the test on an error.
inline std::vector<Delivery> Scan(OutboxStore& store, uint64_t integration_id, TimeMs now,
                                  size_t max_items = SIZE_MAX) {
  std::vector<Delivery> out;
  absl::StatusOr<size_t> n = store.ScanDue(integration_id, now, max_items,
                                           [&](Delivery&& d) { out.push_back(d); });
  EXPECT_TRUE(n.ok()) << n.status();
  if (n.ok()) {
    EXPECT_EQ(*n, out.size());
  }
  return out;
}

// Every queued delivery of the integration, from its beginning.
inline std::vector<Delivery> ScanEverything(OutboxStore& store, uint64_t integration_id) {
  store.ResetCursor(integration_id);
  return Scan(store, integration_id, INT64_MAX);
}

inline std::vector<uint64_t> Seqs(const std::vector<Delivery>& ds) {
  std::vector<uint64_t> seqs;
  for (const Delivery& d : ds) seqs.push_back(d.key.seq);
  return seqs;
}

// WAL files RocksDB archived in the store at `path` (log-only deliveries,
// docs/storage.md).
inline size_t ArchivedWalFiles(const std::string& path) {
  std::error_code ec;
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(path + "/archive", ec)) {
    n += e.path().extension() == ".log";
  }
  return n;
}

// RocksDB archives a WAL file once the flush after it ends, in the
// background: waits up to 20 s for one, and returns how many there are.
inline size_t AwaitArchivedWalFile(const std::string& path) {
  for (int i = 0; i < 2000 && ArchivedWalFiles(path) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return ArchivedWalFiles(path);
}

}  // namespace outboxd::store_test
