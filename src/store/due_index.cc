#include "store/due_index.h"

#include <algorithm>

namespace outboxd::store_internal {

DueIndex::Entry& DueIndex::FindOrAdd(uint64_t integration_id) {
  changed_.insert(integration_id);
  auto [it, inserted] = entries_.try_emplace(integration_id);
  if (inserted) it->second.epoch = next_epoch_++;
  return it->second;
}

void DueIndex::Seed(uint64_t integration_id, TimeMs first_due_ms) {
  MutexLock lock(&mu_);
  Entry& e = FindOrAdd(integration_id);
  e.next_due = std::min(e.next_due, first_due_ms);
}

void DueIndex::OnWritten(uint64_t integration_id, OutboxPos pos) {
  MutexLock lock(&mu_);
  Entry& e = FindOrAdd(integration_id);
  e.version = next_version_++;
  e.rewind = std::min(e.rewind, pos);
  e.next_due = std::min(e.next_due, pos.due_ms);
  e.oldest = std::min(e.oldest, pos);
  e.last_write = next_write_++;
}

DueIndex::ScanTicket DueIndex::BeginScan(uint64_t integration_id) {
  MutexLock lock(&mu_);
  Entry& e = FindOrAdd(integration_id);
  e.version = next_version_++;
  ScanTicket ticket{std::min(e.cursor, e.rewind), e.epoch};
  e.rewind = kInfinitePos;
  return ticket;
}

void DueIndex::EndScan(uint64_t integration_id, const ScanTicket& ticket,
                       OutboxPos resume, TimeMs first_unscanned_due) {
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
  entries_.erase(integration_id);
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
  return it == entries_.end() ? kNoDue : it->second.next_due;
}

std::vector<uint64_t> DueIndex::DueIntegrations(TimeMs now) const {
  std::vector<uint64_t> due;
  MutexLock lock(&mu_);
  for (const auto& [id, e] : entries_) {
    if (e.next_due != kNoDue && e.next_due <= now) due.push_back(id);
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
