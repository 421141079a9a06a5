// One integration's fresh deliveries (docs/storage.md, "Fresh deliveries
// from memory") in key order: a vector used as a queue. Writers append
// mostly ascending keys at the back (one write's keys are ascending, and
// concurrent writes overlap only by the batches committed out of order);
// the dispatcher takes from the front. Unlike a node-based ordered map,
// appending and taking allocate nothing once the vector has grown, and the
// deliveries lie next to each other.
//
// Not thread-safe: the due index holds its lock around every call.
#pragma once

#include <cstddef>
#include <vector>

#include "outboxd/store.h"
#include "store/keys.h"

namespace outboxd::store_internal {

inline OutboxPos PosOf(const Delivery& d) { return {d.key.due_ms, d.key.seq}; }

class FreshList {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  // The first listed delivery; the list must not be empty.
  const Delivery& front() const { return items_[head_]; }

  // Appends `d`; the order is restored by Sort, called after a write's
  // appends.
  void Append(Delivery&& d);
  // Restores key order after the appends since the previous Sort (or since
  // the list was empty). O(appended) when they came after every listed key.
  void Sort();
  // Moves the leading deliveries due at `now` into *out, at most
  // `max_items`. Returns how many.
  size_t TakeDue(TimeMs now, size_t max_items, std::vector<Delivery>* out);
  // Drops everything and releases the memory.
  void Clear();

  // The listed deliveries and the bytes they point to.
  size_t listed_bytes() const { return size() * sizeof(Delivery) + heap_bytes_; }
  // Memory held, charged against the fresh cap: every slot of the vector
  // (taken and spare ones too; an emptied list keeps them for the next
  // write) plus the bytes the listed deliveries point to.
  size_t held_bytes() const { return items_.capacity() * sizeof(Delivery) + heap_bytes_; }

 private:
  static size_t HeapBytes(const Delivery& d) {
    return d.event.size() + d.log_type.size();
  }

  std::vector<Delivery> items_;  // [head_, end) listed, [0, head_) taken
  size_t head_ = 0;
  size_t sorted_ = 0;  // items_[head_, sorted_) are in key order
  size_t heap_bytes_ = 0;
};

}  // namespace outboxd::store_internal
