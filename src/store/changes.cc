// Changes: builds one WriteBatch. Every outbox key is written once and
// removed once: with SingleDelete, or, for a run of delivered keys with
// consecutive sequence numbers, with one range tombstone (docs/storage.md,
// "Queue pitfalls and how the layout avoids them").

#include <algorithm>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "outboxd/store.h"
#include "store/changes_impl.h"
#include "store/coding.h"
#include "store/keys.h"
#include "store/log_only.h"
#include "store/values.h"

namespace outboxd {

using store_internal::kDeadCf;
using store_internal::kOutboxCf;

namespace {
// Largest block of sequence numbers a batch takes for one integration.
constexpr uint64_t kMaxSeqBlock = 256;
// Shortest run RemoveAll deletes with a range tombstone. Every iterator
// over a memtable reads its range tombstones, so a short run is cheaper as
// SingleDeletes.
constexpr size_t kMinRangeRemoval = 8;
}  // namespace

void Changes::Impl::Fail(absl::Status status) {
  if (error.ok()) error = std::move(status);
}

uint64_t Changes::Impl::NextSeq(uint64_t integration_id) {
  SeqBlock& block = seq_blocks[integration_id];
  if (block.left == 0) {
    // Small batches waste little of a block, large ones get long runs.
    const uint64_t size =
        block.taken >= 2 ? kMaxSeqBlock
                         : std::min<uint64_t>(kMaxSeqBlock, 16u << (2 * block.taken));
    absl::StatusOr<uint64_t> first = core->seq->NextBlock(size);
    if (!first.ok()) {
      Fail(first.status());
      return 0;
    }
    block.next = *first;
    block.left = size;
    ++block.taken;
  }
  --block.left;
  return block.next++;
}

void Changes::Impl::PutDelivery(const DeliveryKey& key, uint32_t attempts,
                                TimeMs first_enqueued_ms, std::string_view log_type,
                                std::string_view event) {
  if (log_type.size() > store_internal::kMaxLogTypeSize) {
    Fail(absl::InvalidArgumentError("log type longer than " +
                                    std::to_string(store_internal::kMaxLogTypeSize) +
                                    " bytes"));
  }
  if (!error.ok()) return;  // Apply will refuse the batch; don't grow it
  // Key and value go into the batch straight from the stack and the
  // caller's event bytes: no temporary value string per delivery.
  char key_bytes[store_internal::kOutboxKeySize];
  store_internal::EncodeOutboxKey(key, key_bytes);
  char header[store_internal::kMaxDeliveryHeaderSize];
  const size_t header_size =
      store_internal::EncodeDeliveryHeader(attempts, first_enqueued_ms, log_type, header);
  const bool as_log_only = keep_fresh && log_only && GoesLogOnly(key);
  if (as_log_only) {
    // One WAL-only record: format byte, key, value (docs/storage.md,
    // "Log-only deliveries"). The value ends the record, as it ends a Put,
    // so the fresh list finds it the same way.
    record.clear();
    record.reserve(1 + sizeof(key_bytes) + header_size + event.size());
    record.push_back(store_internal::kLogOnlyFormat);
    record.append(key_bytes, sizeof(key_bytes));
    record.append(header, header_size);
    record.append(event.data(), event.size());
    if (rocksdb::Status s = batch.PutLogData(record); !s.ok()) {
      Fail(absl::InternalError("log-only record: " + s.ToString()));
      return;
    }
    ++log_only_count;
  } else {
    const rocksdb::Slice key_slice(key_bytes, sizeof(key_bytes));
    const rocksdb::Slice value_parts[2] = {rocksdb::Slice(header, header_size),
                                           rocksdb::Slice(event.data(), event.size())};
    batch.Put(core->db->cf(kOutboxCf), rocksdb::SliceParts(&key_slice, 1),
              rocksdb::SliceParts(value_parts, 2));
  }
  if (keep_fresh) {
    fresh.push_back({key, batch.GetDataSize(), header_size + event.size(), as_log_only});
  }
  const store_internal::OutboxPos pos{key.due_ms, key.seq};
  auto [it, inserted] = min_written.try_emplace(key.integration_id, pos);
  if (!inserted) it->second = std::min(it->second, pos);
}

bool Changes::Impl::GoesLogOnly(const DeliveryKey& key) {
  // Listed by OnWritten after the write, unless the list is dropped in
  // between: then Apply asks for a checkpoint, which rewrites it as a Put.
  if (fresh_range_id != key.integration_id) {
    fresh_range_id = key.integration_id;
    fresh_range = core->due_index.Fresh(key.integration_id);
  }
  return fresh_range.Contains(key.seq);
}

void Changes::Impl::RemoveDelivery(const DeliveryKey& key) {
  if (!error.ok()) return;
  removals.emplace_back(key, key.seq);
  char key_bytes[store_internal::kOutboxKeySize];
  store_internal::EncodeOutboxKey(key, key_bytes);
  batch.SingleDelete(core->db->cf(kOutboxCf),
                     rocksdb::Slice(key_bytes, sizeof(key_bytes)));
  if (!fresh.empty()) removed_after_put.emplace_back(key, key.seq);
}

void Changes::Impl::RemoveRun(const DeliveryKey& first, uint64_t last_seq) {
  if (!error.ok()) return;
  // [first, last + 1) as a range tombstone. Its begin is the 25-byte key
  // just after (integration, due, first.seq - 1): no 24-byte key lies
  // between the two, so the range covers exactly the run. Being 25 bytes it
  // is also outside the memtable insert hint's domain (db.cc: RocksDB 7.8
  // shares one hint between the point and the range-tombstone skip lists).
  char begin[store_internal::kOutboxKeySize + 1];
  store_internal::EncodeOutboxKey({first.integration_id, first.due_ms, first.seq - 1},
                                  begin);
  begin[store_internal::kOutboxKeySize] = '\0';
  char end[store_internal::kOutboxKeySize];
  store_internal::EncodeOutboxKey({first.integration_id, first.due_ms, last_seq + 1},
                                  end);
  batch.DeleteRange(core->db->cf(kOutboxCf), rocksdb::Slice(begin, sizeof(begin)),
                    rocksdb::Slice(end, sizeof(end)));
  removals.emplace_back(first, last_seq);
  if (!fresh.empty()) removed_after_put.emplace_back(first, last_seq);
}

bool Changes::Impl::ShareBatchWithFresh() const {
  // A listed delivery keeps its whole batch alive, but the cap counts only
  // its event. A batch spread over several integrations would let one list
  // that nobody takes from (a paused destination) keep every batch whole,
  // so only a batch that is mostly the events of one integration is shared:
  // then a list pins at most about twice what the cap counts.
  if (fresh.empty()) return false;
  uint64_t listed = 0;
  for (const FreshPut& put : fresh) {
    if (put.key.integration_id != fresh.front().key.integration_id) return false;
    listed += put.value_size;
  }
  return 2 * listed >= batch.GetDataSize();
}

absl::flat_hash_map<uint64_t, std::vector<Delivery>> Changes::Impl::TakeFreshDeliveries(
    std::vector<Delivery>* log_only_out) {
  absl::flat_hash_map<uint64_t, std::vector<Delivery>> out;
  // Keys removed again in this batch (rare: only a caller that removes what
  // it has just written) are not copied.
  // (A rescheduled delivery keeps its seq under a new due time.)
  absl::flat_hash_set<std::tuple<uint64_t, TimeMs, uint64_t>> removed;
  for (const auto& [first, last_seq] : removed_after_put) {
    for (uint64_t seq = first.seq;; ++seq) {
      removed.insert({first.integration_id, first.due_ms, seq});
      if (seq == last_seq) break;
    }
  }
  // Shared, the events stay where the batch holds them: the batch moves to
  // shared storage that the last of them releases. Otherwise each is copied.
  std::shared_ptr<const void> owner;
  const std::string* data = &batch.Data();
  if (ShareBatchWithFresh()) {
    auto shared = std::make_shared<const rocksdb::WriteBatch>(std::move(batch));
    data = &shared->Data();
    owner = std::move(shared);
  }
  // Runs of one integration's puts are the rule (a write is usually for
  // one): its list is looked up once per run, and the first one is sized
  // for the whole write.
  std::vector<Delivery>* list = nullptr;
  uint64_t list_id = 0;
  for (const FreshPut& put : fresh) {
    if (!removed.empty() &&
        removed.contains({put.key.integration_id, put.key.due_ms, put.key.seq})) {
      continue;
    }
    if (list == nullptr || list_id != put.key.integration_id) {
      list_id = put.key.integration_id;
      list = &out[list_id];
      if (out.size() == 1 && list->empty()) list->reserve(fresh.size());
    }
    Delivery& d = list->emplace_back();
    d.key = put.key;
    // Written by PutDelivery from a valid header: cannot fail.
    store_internal::DecodeDeliveryValue(
        std::string_view(*data).substr(put.value_end - put.value_size, put.value_size),
        &d, owner);
    if (put.log_only) log_only_out->push_back(d);
  }
  fresh.clear();
  removed_after_put.clear();
  return out;
}

void Changes::Impl::AppendQueuedCounts() {
  for (const auto& [id, delta] : queued_delta) {
    if (delta == 0) continue;
    batch.Merge(core->db->cf(store_internal::kMetaCf),
                store_internal::QueuedCountName(id),
                store_internal::EncodeFixed64(static_cast<uint64_t>(delta)));
  }
  queued_delta.clear();
}

Changes::Changes(OutboxStore* store, size_t reserve_bytes)
    : impl_(std::make_unique<Impl>(reserve_bytes)) {
  impl_->core = &store->impl_->core;
  impl_->keep_fresh = impl_->core->options.fresh_cache_bytes > 0;
  impl_->log_only = impl_->core->log_only_enabled;
}
Changes::~Changes() = default;
Changes::Changes(Changes&&) noexcept = default;
Changes& Changes::operator=(Changes&&) noexcept = default;

DeliveryKey Changes::Enqueue(uint64_t integration_id, std::string_view log_type,
                             std::string_view event, TimeMs due_ms, TimeMs enqueued_ms) {
  ++impl_->operations;
  ++impl_->enqueued;
  const DeliveryKey key{integration_id, std::max<TimeMs>(due_ms, 0),
                        impl_->NextSeq(integration_id)};
  impl_->PutDelivery(key, 0, enqueued_ms, log_type, event);
  ++impl_->queued_delta[integration_id];
  return key;
}

void Changes::Remove(const DeliveryKey& key) {
  ++impl_->operations;
  impl_->RemoveDelivery(key);
  --impl_->queued_delta[key.integration_id];
}

void Changes::RemoveAll(std::vector<DeliveryKey> keys) {
  std::sort(keys.begin(), keys.end(), [](const DeliveryKey& a, const DeliveryKey& b) {
    return std::tie(a.integration_id, a.due_ms, a.seq) <
           std::tie(b.integration_id, b.due_ms, b.seq);
  });
  size_t i = 0;
  while (i < keys.size()) {
    const DeliveryKey& first = keys[i];
    size_t j = i + 1;
    while (j < keys.size() && keys[j].integration_id == first.integration_id &&
           keys[j].due_ms == first.due_ms && keys[j - 1].seq != UINT64_MAX &&
           keys[j].seq == keys[j - 1].seq + 1) {
      ++j;
    }
    const uint64_t last_seq = keys[j - 1].seq;
    if (j - i >= kMinRangeRemoval && first.seq > 0 && last_seq < UINT64_MAX) {
      impl_->RemoveRun(first, last_seq);
    } else {
      for (size_t k = i; k < j; ++k) impl_->RemoveDelivery(keys[k]);
    }
    impl_->operations += j - i;
    impl_->queued_delta[first.integration_id] -= static_cast<int64_t>(j - i);
    i = j;
  }
}

DeliveryKey Changes::Reschedule(const Delivery& delivery, TimeMs new_due,
                                uint32_t attempts) {
  ++impl_->operations;
  const DeliveryKey& old = delivery.key;
  if (old.due_ms == kNoDue) {
    impl_->Fail(absl::InvalidArgumentError("cannot reschedule a delivery due at kNoDue"));
    return old;
  }
  // Same seq, strictly later due: a key is never written twice, which is
  // what makes SingleDelete safe.
  const DeliveryKey key{old.integration_id, std::max(new_due, old.due_ms + 1), old.seq};
  impl_->RemoveDelivery(old);
  impl_->PutDelivery(key, attempts, delivery.first_enqueued_ms, delivery.log_type,
                     delivery.event);
  return key;
}

void Changes::MoveToDead(const Delivery& delivery, std::string_view reason, TimeMs now) {
  ++impl_->operations;
  const DeliveryKey& key = delivery.key;
  impl_->RemoveDelivery(key);
  --impl_->queued_delta[key.integration_id];
  if (delivery.log_type.size() > store_internal::kMaxLogTypeSize) {
    impl_->Fail(absl::InvalidArgumentError("log type too long"));
  }
  if (!impl_->error.ok()) return;
  std::string value;
  store_internal::EncodeDeliveryValue(delivery.attempts, delivery.first_enqueued_ms,
                                      delivery.log_type, delivery.event, &value);
  impl_->batch.Put(impl_->core->db->cf(kDeadCf),
                   store_internal::PairKey(key.integration_id, key.seq),
                   store_internal::EncodeDeadValue(now, reason, key.due_ms, value));
}

DeliveryKey Changes::Replay(const DeadDelivery& dead, TimeMs due_ms) {
  ++impl_->operations;
  ++impl_->enqueued;
  const Delivery& d = dead.delivery;
  if (impl_->error.ok()) {
    impl_->batch.Delete(impl_->core->db->cf(kDeadCf),
                        store_internal::PairKey(d.key.integration_id, d.key.seq));
  }
  // A fresh seq: the old outbox key may have existed at this due time.
  const DeliveryKey key{d.key.integration_id, std::max<TimeMs>(due_ms, 0),
                        impl_->NextSeq(d.key.integration_id)};
  // The replay restarts the delivery's life: with the original enqueue time
  // a delivery that died of old age would die again at its first failure.
  impl_->PutDelivery(key, 0, key.due_ms, d.log_type, d.event);
  ++impl_->queued_delta[key.integration_id];
  return key;
}

void Changes::AddStats(uint64_t integration_id, int64_t minute, uint64_t requests,
                       uint64_t failures) {
  ++impl_->operations;
  if (!impl_->error.ok()) return;
  impl_->batch.Merge(impl_->core->db->cf(store_internal::kStatsCf),
                     store_internal::TimePairKey(integration_id, minute),
                     store_internal::EncodeStatsValue(requests, failures));
}

void Changes::ClearStats(uint64_t integration_id) {
  ++impl_->operations;
  if (!impl_->error.ok()) return;
  impl_->batch.DeleteRange(impl_->core->db->cf(store_internal::kStatsCf),
                           store_internal::IdKey(integration_id),
                           store_internal::IdPrefixEnd(integration_id));
}

void Changes::PurgeDeliveries(uint64_t integration_id) {
  Impl& c = *impl_;
  ++c.operations;
  if (!c.error.ok()) return;
  const std::string begin = store_internal::IdKey(integration_id);
  const std::string end = store_internal::IdPrefixEnd(integration_id);
  // Range tombstones cover what earlier operations of this batch wrote.
  for (store_internal::Cf cf :
       {store_internal::kOutboxCf, store_internal::kDeadCf, store_internal::kStatsCf}) {
    c.batch.DeleteRange(c.core->db->cf(cf), begin, end);
  }
  // The counter restarts at zero; the merges appended at Apply count only
  // what this batch does for the integration after the purge.
  c.batch.Delete(c.core->db->cf(store_internal::kMetaCf),
                 store_internal::QueuedCountName(integration_id));
  c.queued_delta.erase(integration_id);
  c.min_written.erase(integration_id);
  std::erase_if(c.fresh, [integration_id](const Impl::FreshPut& put) {
    return put.key.integration_id == integration_id;
  });
  c.purged.push_back(integration_id);
}

void Changes::DeleteIntegration(uint64_t integration_id) {
  ++impl_->operations;
  if (!impl_->error.ok()) return;
  impl_->batch.Delete(impl_->core->db->cf(store_internal::kIntegrationsCf),
                      store_internal::IdKey(integration_id));
}

void Changes::PutIntegration(uint64_t integration_id, std::string_view record) {
  ++impl_->operations;
  if (!impl_->error.ok()) return;
  impl_->batch.Put(impl_->core->db->cf(store_internal::kIntegrationsCf),
                   store_internal::IdKey(integration_id), record);
}

void Changes::AddRequestCount(uint64_t company_id, int64_t hour, uint64_t count) {
  ++impl_->operations;
  if (!impl_->error.ok()) return;
  impl_->batch.Merge(impl_->core->db->cf(store_internal::kCountersCf),
                     store_internal::TimePairKey(company_id, hour),
                     store_internal::EncodeFixed64(count));
}

void Changes::PutMeta(std::string_view name, std::string_view value) {
  ++impl_->operations;
  if (name.starts_with(store_internal::kQueuedCountPrefix) ||
      name == store_internal::kSeqLeaseName) {
    impl_->Fail(absl::InvalidArgumentError("reserved meta name: " + std::string(name)));
  }
  if (!impl_->error.ok()) return;
  impl_->batch.Put(impl_->core->db->cf(store_internal::kMetaCf), name, value);
}

bool Changes::empty() const { return impl_ == nullptr || impl_->operations == 0; }

size_t Changes::deliveries_enqueued() const {
  return impl_ == nullptr ? 0 : impl_->enqueued;
}

}  // namespace outboxd
