#include "store/due_index.h"

#include <algorithm>

namespace outboxd::store_internal {

void DueIndex::EnableFresh(size_t cap_bytes, std::function<uint64_t()> next_seq) {
  MutexLock lock(&mu_);
  fresh_cap_ = cap_bytes;
  next_seq_ = std::move(next_seq);
}

DueIndex::Entry& DueIndex::FindOrAdd(uint64_t integration_id) {
  changed_.insert(integration_id);
  auto [it, inserted] = entries_.try_emplace(integration_id);
  if (inserted) {
    it->second.epoch = next_epoch_++;
    // Everything queued now has a smaller seq and stays with RocksDB.
    Arm(it->second);
  }
  return it->second;
}

void DueIndex::Arm(Entry& e) {
  if (fresh_cap_ == 0 || e.range.armed()) return;
  // Under mu_: a writer whose seq was drawn before this read reports it
  // later (then seq < S, RocksDB part) or reported it already (then it was
  // not armed, RocksDB part); every seq drawn after is >= S and reported
  // after this, to the list.
  e.range = {next_seq_(), kNotArmed};
}

void DueIndex::Rearm(Entry& e) {
  // Every seq of [S, T) that was reported is handed out; one reported from
  // now on is below the new S and goes to the RocksDB part (the store asks
  // for a checkpoint if it was written log-only). Handed-out keys that the
  // RocksDB part may find again are held by the caller or removed, as after
  // Disarm.
  e.range = {};
  Arm(e);
}

void DueIndex::DropFresh(Entry& e) {
  if (!e.fresh.empty()) {
    dropped_.store(true, std::memory_order_release);
    ++counts_.dropped;
  }
  fresh_listed_ -= e.fresh.listed_bytes();
  fresh_held_ -= e.fresh.held_bytes();
  e.fresh.Clear();
}

void DueIndex::Recount(const Entry& e, size_t listed_before, size_t held_before) {
  fresh_listed_ = fresh_listed_ - listed_before + e.fresh.listed_bytes();
  fresh_held_ = fresh_held_ - held_before + e.fresh.held_bytes();
}

void DueIndex::Disarm(Entry& e) {
  if (!e.fresh.empty()) {
    const OutboxPos first = PosOf(e.fresh.front());
    e.rewind = std::min(e.rewind, first);
    e.next_due = std::min(e.next_due, first.due_ms);
  }
  DropFresh(e);
  e.range = {};
}

void DueIndex::Seed(uint64_t integration_id, TimeMs first_due_ms) {
  MutexLock lock(&mu_);
  Entry& e = FindOrAdd(integration_id);
  e.next_due = std::min(e.next_due, first_due_ms);
}

void DueIndex::OnWritten(uint64_t integration_id, OutboxPos pos,
                         std::vector<Delivery>* written) {
  MutexLock lock(&mu_);
  Entry& e = FindOrAdd(integration_id);
  e.version = next_version_++;
  e.oldest = std::min(e.oldest, pos);
  e.last_write = next_write_++;
  OutboxPos rocks = pos;  // smallest position written for the RocksDB part
  if (written != nullptr && e.range.armed()) {
    rocks = kInfinitePos;
    const size_t listed = e.fresh.listed_bytes(), held = e.fresh.held_bytes();
    size_t left = 0;  // the unlisted ones, compacted to the front
    for (Delivery& d : *written) {
      if (!e.range.Contains(d.key.seq)) {
        rocks = std::min(rocks, PosOf(d));
        if (&(*written)[left] != &d) (*written)[left] = std::move(d);
        ++left;
        continue;
      }
      e.fresh.Append(std::move(d));
    }
    e.fresh.Sort();
    Recount(e, listed, held);
    written->resize(left);
    if (!e.range.capped() && e.fresh.held_bytes() > fresh_cap_ / 2) {
      // The dispatcher is behind: stop listing (every seq drawn from now on
      // is >= T) and keep what is listed, rather than drop it all at the
      // cap. The list goes first in scans, so it empties and is armed again.
      e.range.to = next_seq_();
      ++counts_.capped;
    }
    if (fresh_held_ > fresh_cap_) ShedFresh();
  }
  if (rocks != kInfinitePos) {
    e.rewind = std::min(e.rewind, rocks);
    e.next_due = std::min(e.next_due, rocks.due_ms);
  }
}

void DueIndex::ShedFresh() {
  // The largest list goes first: a list the dispatcher keeps taking from
  // stays small, one nobody scans (a paused or disabled destination) grows
  // until it is the largest. O(integrations), only when over the cap.
  while (fresh_held_ > fresh_cap_) {
    uint64_t largest_id = 0;
    Entry* largest = nullptr;
    for (auto& [id, e] : entries_) {
      if (largest == nullptr || e.fresh.held_bytes() > largest->fresh.held_bytes()) {
        largest_id = id;
        largest = &e;
      }
    }
    if (largest == nullptr || largest->fresh.held_bytes() == 0) return;
    changed_.insert(largest_id);
    Disarm(*largest);
  }
}

void DueIndex::OnWriteFailed(uint64_t integration_id, OutboxPos pos) {
  MutexLock lock(&mu_);
  Entry& e = FindOrAdd(integration_id);
  e.version = next_version_++;
  e.oldest = std::min(e.oldest, pos);
  e.last_write = next_write_++;
  e.rewind = std::min(e.rewind, pos);
  e.next_due = std::min(e.next_due, pos.due_ms);
  Disarm(e);
}

DueIndex::ScanTicket DueIndex::BeginScan(uint64_t integration_id) {
  return BeginScan(integration_id, kNoDue);
}

DueIndex::ScanTicket DueIndex::BeginScan(uint64_t integration_id, TimeMs now) {
  MutexLock lock(&mu_);
  return MakeTicket(FindOrAdd(integration_id), now);
}

DueIndex::ScanTicket DueIndex::BeginScan(uint64_t integration_id, TimeMs now,
                                         size_t max_items,
                                         std::vector<Delivery>* capped_out) {
  MutexLock lock(&mu_);
  Entry& e = FindOrAdd(integration_id);
  if (e.range.capped()) {
    const size_t listed = e.fresh.listed_bytes(), held = e.fresh.held_bytes();
    const size_t n = e.fresh.TakeDue(now, max_items, capped_out);
    Recount(e, listed, held);
    if (e.fresh.empty()) Rearm(e);
    if (n == max_items) {
      ScanTicket ticket{std::min(e.cursor, e.rewind), e.epoch, e.range};
      ticket.scan_rocks = false;
      return ticket;
    }
  }
  return MakeTicket(e, now);
}

DueIndex::ScanTicket DueIndex::MakeTicket(Entry& e, TimeMs now) {
  ScanTicket ticket{std::min(e.cursor, e.rewind), e.epoch, e.range};
  if (e.range.armed() && e.next_due > now) {
    ticket.scan_rocks = false;
    return ticket;
  }
  e.version = next_version_++;
  e.rewind = kInfinitePos;
  return ticket;
}

size_t DueIndex::TakeFresh(uint64_t integration_id, TimeMs now, size_t max_items,
                           std::vector<Delivery>* out) {
  MutexLock lock(&mu_);
  auto found = entries_.find(integration_id);
  if (found == entries_.end()) return 0;
  Entry& e = found->second;
  const size_t listed = e.fresh.listed_bytes(), held = e.fresh.held_bytes();
  const size_t n = e.fresh.TakeDue(now, max_items, out);
  if (n == 0) return 0;
  Recount(e, listed, held);
  changed_.insert(integration_id);
  return n;
}

size_t DueIndex::fresh_bytes() const {
  MutexLock lock(&mu_);
  return fresh_listed_;
}

DueIndex::FreshRange DueIndex::Fresh(uint64_t integration_id) const {
  MutexLock lock(&mu_);
  auto it = entries_.find(integration_id);
  return it == entries_.end() ? FreshRange{} : it->second.range;
}

bool DueIndex::capped(uint64_t integration_id) const {
  MutexLock lock(&mu_);
  auto it = entries_.find(integration_id);
  return it != entries_.end() && it->second.range.capped();
}

DueIndex::FreshCounts DueIndex::fresh_counts() const {
  MutexLock lock(&mu_);
  return counts_;
}

bool DueIndex::armed(uint64_t integration_id) const {
  MutexLock lock(&mu_);
  auto it = entries_.find(integration_id);
  return it != entries_.end() && it->second.range.armed();
}

void DueIndex::EndScan(uint64_t integration_id, const ScanTicket& ticket,
                       OutboxPos resume, TimeMs first_unscanned_due, bool drained) {
  MutexLock lock(&mu_);
  changed_.insert(integration_id);
  auto it = entries_.find(integration_id);
  if (it == entries_.end()) return;  // purged meanwhile
  Entry& e = it->second;
  e.version = next_version_++;
  if (e.epoch != ticket.epoch) {
    // Reset (or purged and re-created) during the scan: keep the cursor at
    // the beginning, only tighten the bound.
    e.next_due = std::min(e.next_due, first_unscanned_due);
    return;
  }
  e.cursor = resume;
  // Everything in [start, resume) was handed out; everything written since
  // BeginScan is at or above `rewind`.
  e.next_due = std::min(e.rewind.due_ms, first_unscanned_due);
  // Everything due in the RocksDB part was handed out: fresh writes can come
  // from memory again. (Arming is safe at any time; waiting for this keeps
  // the backlog of a destination that is down, which is not scanned, from
  // cycling through the cap. Retries not due yet do not hold it back.)
  if (first_unscanned_due == kNoDue || drained) Arm(e);
}

void DueIndex::AbortScan(uint64_t integration_id, const ScanTicket& ticket) {
  MutexLock lock(&mu_);
  changed_.insert(integration_id);
  auto it = entries_.find(integration_id);
  if (it == entries_.end() || it->second.epoch != ticket.epoch) return;
  Entry& e = it->second;
  e.version = next_version_++;
  e.rewind = std::min(e.rewind, ticket.start);
  e.next_due = std::min(e.next_due, ticket.start.due_ms);
}

uint64_t DueIndex::BeginReset(uint64_t integration_id) {
  MutexLock lock(&mu_);
  Entry& e = FindOrAdd(integration_id);
  e.cursor = kBeginPos;
  e.rewind = kInfinitePos;
  e.next_due = 0;  // a safe lower bound until EndReset knows better
  // The listed keys are in RocksDB too, and the cursor is at its start.
  DropFresh(e);
  e.range = {};
  e.epoch = next_epoch_++;
  e.version = next_version_++;
  return e.version;
}

void DueIndex::EndReset(uint64_t integration_id, uint64_t token, TimeMs first_due_ms) {
  MutexLock lock(&mu_);
  changed_.insert(integration_id);
  auto it = entries_.find(integration_id);
  if (it == entries_.end() || it->second.version != token) return;
  // Nothing was written or scanned since BeginReset, so the lookup is the
  // whole truth; a write landing after it lowers next_due again.
  it->second.next_due = first_due_ms;
}

void DueIndex::Erase(uint64_t integration_id) {
  MutexLock lock(&mu_);
  changed_.insert(integration_id);
  auto it = entries_.find(integration_id);
  if (it == entries_.end()) return;
  DropFresh(it->second);
  entries_.erase(it);
}

DueIndex::OldestHint DueIndex::GetOldestHint(uint64_t integration_id) const {
  MutexLock lock(&mu_);
  auto it = entries_.find(integration_id);
  if (it == entries_.end()) return {};
  return {it->second.oldest, it->second.last_write};
}

void DueIndex::RaiseOldestHint(uint64_t integration_id, uint64_t token, OutboxPos found) {
  MutexLock lock(&mu_);
  auto it = entries_.find(integration_id);
  // A write since GetOldestHint may lie below `found` and not have been
  // seen by the caller's seek; a write that lands after this call lowers
  // the hint again in OnWritten.
  if (it == entries_.end() || it->second.last_write != token) return;
  it->second.oldest = std::max(it->second.oldest, found);
}

TimeMs DueIndex::NextDue(uint64_t integration_id) const {
  MutexLock lock(&mu_);
  auto it = entries_.find(integration_id);
  return it == entries_.end() ? kNoDue : it->second.Due();
}

std::vector<uint64_t> DueIndex::DueIntegrations(TimeMs now) const {
  std::vector<uint64_t> due;
  MutexLock lock(&mu_);
  for (const auto& [id, e] : entries_) {
    const TimeMs next = e.Due();
    if (next != kNoDue && next <= now) due.push_back(id);
  }
  return due;
}

std::vector<uint64_t> DueIndex::TakeChanged() {
  MutexLock lock(&mu_);
  std::vector<uint64_t> out(changed_.begin(), changed_.end());
  changed_.clear();
  return out;
}

size_t DueIndex::size() const {
  MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace outboxd::store_internal
