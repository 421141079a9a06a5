// Changes::Impl: a rocksdb::WriteBatch plus what Apply needs to tell the due
// index (internal; OutboxStore::Apply reads it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
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
  // Per integration: sequence numbers taken from the allocator in blocks,
  // so that one batch's deliveries for an integration get consecutive
  // numbers even while other batches draw concurrently. Their keys then
  // form runs that RemoveAll can delete with one range tombstone.
  struct SeqBlock {
    uint64_t next = 0;
    uint64_t left = 0;
    uint64_t taken = 0;  // blocks taken so far (sizes grow: 16, 64, 256)
  };
  absl::flat_hash_map<uint64_t, SeqBlock> seq_blocks;
  // With fresh deliveries on (StoreOptions::fresh_cache_bytes): every outbox
  // Put, as the place of its value in the batch, for Apply to copy into
  // the due index; and what was removed after the first of them (a key put
  // and removed in one batch must not be listed).
  struct FreshPut {
    DeliveryKey key;
    size_t value_end = 0;  // offset in batch.Data() just past the value
    size_t value_size = 0;
    bool log_only = false;  // a WAL-only record, not a Put
  };
  bool keep_fresh = false;
  std::vector<FreshPut> fresh;
  std::vector<std::pair<DeliveryKey, uint64_t>> removed_after_put;  // key, last seq
  // Log-only deliveries (docs/storage.md): the records written, every
  // removal as a run (key, last seq), and the last fresh list's seqs
  // looked up (integration, range).
  bool log_only = false;
  size_t log_only_count = 0;
  std::vector<std::pair<DeliveryKey, uint64_t>> removals;
  uint64_t fresh_range_id = UINT64_MAX;
  store_internal::DueIndex::FreshRange fresh_range;
  std::string record;  // a log-only record being assembled

  // Writes a delivery value under `key` and records it.
  void PutDelivery(const DeliveryKey& key, uint32_t attempts, TimeMs first_enqueued_ms,
                   std::string_view log_type, std::string_view event);
  void RemoveDelivery(const DeliveryKey& key);
  // Removes the run of keys (integration, due, first.seq .. last_seq) with
  // one range tombstone; nothing else can lie in that key range.
  void RemoveRun(const DeliveryKey& first, uint64_t last_seq);
  // A fresh sequence number for a delivery of `integration_id`, or 0 after
  // recording the error.
  uint64_t NextSeq(uint64_t integration_id);
  void Fail(absl::Status status);
  // Appends the aggregated queued-count merges to the batch.
  void AppendQueuedCounts();
  // Whether the fresh deliveries' events may point into the batch.
  bool ShareBatchWithFresh() const;
  // The deliveries the batch wrote (FreshPut), per integration. Their events
  // point into the batch, which this then takes over, or are copies (see
  // ShareBatchWithFresh): call it once, after the write. The log-only ones
  // are also copied to *log_only_out.
  absl::flat_hash_map<uint64_t, std::vector<Delivery>> TakeFreshDeliveries(
      std::vector<Delivery>* log_only_out);
  // Whether a delivery with this key goes log-only (see FreshPut).
  bool GoesLogOnly(const DeliveryKey& key);
};

}  // namespace outboxd
