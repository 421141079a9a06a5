// Changes::Impl: a rocksdb::WriteBatch plus what Apply needs to tell the due
// index (internal; OutboxStore::Apply reads it).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "outboxd/store.h"
#include "rocksdb/write_batch.h"
#include "store/keys.h"
#include "store/store_core.h"

namespace outboxd {

struct Changes::Impl {
  explicit Impl(size_t reserve_bytes) : batch(reserve_bytes) {}

  store_internal::StoreCore* core = nullptr;
  rocksdb::WriteBatch batch;
  // The first error while building; Apply returns it and writes nothing.
  absl::Status error;
  size_t operations = 0;
  size_t enqueued = 0;
  // Per integration: net change of queued deliveries (one merge each at
  // Apply) and the smallest outbox position written (for the due index).
  absl::flat_hash_map<uint64_t, int64_t> queued_delta;
  absl::flat_hash_map<uint64_t, store_internal::OutboxPos> min_written;
  // Integrations whose deliveries this batch purges (due index reset first).
  std::vector<uint64_t> purged;

  // Writes a delivery value under `key` and records it.
  void PutDelivery(const DeliveryKey& key, uint32_t attempts, TimeMs first_enqueued_ms,
                   std::string_view log_type, std::string_view event);
  void RemoveDelivery(const DeliveryKey& key);
  // A fresh sequence number, or 0 after recording the error.
  uint64_t NextSeq();
  void Fail(absl::Status status);
  // Appends the aggregated queued-count merges to the batch.
  void AppendQueuedCounts();
};

}  // namespace outboxd
