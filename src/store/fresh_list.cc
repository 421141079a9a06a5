#include "store/fresh_list.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace outboxd::store_internal {

namespace {

bool KeyLess(const Delivery& a, const Delivery& b) { return PosOf(a) < PosOf(b); }

}  // namespace

void FreshList::Append(Delivery&& d) {
  if (head_ > 0 && items_.size() == items_.capacity()) {
    // Reuse the taken slots before growing: the vector stays about as large
    // as the most it ever listed.
    items_.erase(items_.begin(), items_.begin() + static_cast<ptrdiff_t>(head_));
    sorted_ -= head_;
    head_ = 0;
  }
  heap_bytes_ += HeapBytes(d);
  items_.push_back(std::move(d));
}

void FreshList::Sort() {
  const auto first = items_.begin() + static_cast<ptrdiff_t>(head_);
  const auto mid = items_.begin() + static_cast<ptrdiff_t>(sorted_);
  if (mid == items_.end()) return;
  if (!std::is_sorted(mid, items_.end(), KeyLess)) std::sort(mid, items_.end(), KeyLess);
  if (first != mid && KeyLess(*mid, *std::prev(mid))) {
    // A write that committed after a later-numbered one: merge with the
    // listed keys above its first.
    std::inplace_merge(std::upper_bound(first, mid, *mid, KeyLess), mid, items_.end(),
                       KeyLess);
  }
  sorted_ = items_.size();
}

size_t FreshList::TakeDue(TimeMs now, size_t max_items, std::vector<Delivery>* out) {
  size_t n = 0;
  for (; head_ < sorted_ && n < max_items && items_[head_].key.due_ms <= now;
       ++head_, ++n) {
    heap_bytes_ -= HeapBytes(items_[head_]);
    out->push_back(std::move(items_[head_]));
  }
  if (empty()) {
    items_.clear();  // keeps the capacity (charged in bytes())
    head_ = sorted_ = 0;
  }
  return n;
}

void FreshList::Clear() {
  std::vector<Delivery>().swap(items_);
  head_ = sorted_ = heap_bytes_ = 0;
}

}  // namespace outboxd::store_internal
