#include "store/log_only.h"

#include <limits>

namespace outboxd::store_internal {

uint64_t LogOnlySet::BeginApply() {
  MutexLock lock(&mu_);
  ++open_windows_[epoch_];
  return epoch_;
}

void LogOnlySet::EndApply(uint64_t ticket) {
  MutexLock lock(&mu_);
  auto it = open_windows_.find(ticket);
  if (it != open_windows_.end() && --it->second == 0) open_windows_.erase(it);
}

void LogOnlySet::Add(std::vector<Delivery> written, uint64_t seq_before) {
  MutexLock lock(&mu_);
  for (Delivery& d : written) {
    const Key key{d.key.integration_id, d.key.due_ms, d.key.seq};
    entries_.insert_or_assign(key, Entry{std::move(d), seq_before, State::kWritten});
  }
}

template <typename Fn>
void LogOnlySet::ForEachCovered(const Removal& removal, Fn fn) {
  for (const auto& [first, last_seq] : removal.runs) {
    auto it = entries_.lower_bound(Key{first.integration_id, first.due_ms, first.seq});
    for (; it != entries_.end(); ++it) {
      const auto& [id, due, seq] = it->first;
      if (id != first.integration_id || due != first.due_ms || seq > last_seq) break;
      fn(*it);
    }
  }
  for (uint64_t id : removal.purged) {
    auto it = entries_.lower_bound(Key{id, std::numeric_limits<TimeMs>::min(), 0});
    for (; it != entries_.end() && std::get<0>(it->first) == id; ++it) fn(*it);
  }
}

bool LogOnlySet::MustWait(uint64_t ticket, const Removal& removal) {
  // While a rewrite is pending, a removal from a window it does not wait
  // for must not mark what it will take; while it is written, a removal
  // must not overtake its Put.
  const bool pending = pending_ && ticket > pending_epoch_;
  if (!pending && !rewriting_) return false;
  bool wait = false;
  ForEachCovered(removal, [&](const auto& kv) {
    if (pending || kv.second.state == State::kRewriting) wait = true;
  });
  return wait;
}

void LogOnlySet::BeginRemoval(uint64_t ticket, Removal* removal) {
  MutexLock lock(&mu_);
  mu_.Await([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !MustWait(ticket, *removal); });
  removal->marked.clear();
  ForEachCovered(*removal, [&](auto& kv) {
    if (kv.second.state != State::kWritten) return;
    kv.second.state = State::kRemoving;
    removal->marked.push_back(kv.first);
  });
  removing_ += removal->marked.size();
}

void LogOnlySet::EndRemoval(const Removal& removal, bool written) {
  if (removal.marked.empty()) return;
  MutexLock lock(&mu_);
  for (const Key& key : removal.marked) {
    auto it = entries_.find(key);
    if (it == entries_.end()) continue;
    if (written) {
      entries_.erase(it);
    } else {
      it->second.state = State::kWritten;
    }
  }
  removing_ -= removal.marked.size();
}

std::vector<Delivery> LogOnlySet::BeginRewrite(uint64_t live_from) {
  MutexLock lock(&mu_);
  // One rewrite at a time (the store serializes checkpoints).
  const uint64_t before = epoch_++;
  pending_ = true;
  pending_epoch_ = before;
  mu_.Await([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (removing_ != 0) return false;
    for (const auto& [epoch, count] : open_windows_) {
      if (epoch <= before && count > 0) return false;
    }
    return true;
  });
  std::vector<Delivery> out;
  for (auto& [key, entry] : entries_) {
    // Written with a sequence number above seq_before: in a live file
    // unless seq_before lies below the first live one.
    if (entry.seq_before >= live_from) continue;
    entry.state = State::kRewriting;
    out.push_back(entry.delivery);
  }
  pending_ = false;
  rewriting_ = true;
  return out;
}

void LogOnlySet::EndRewrite(bool written) {
  MutexLock lock(&mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.state != State::kRewriting) {
      ++it;
    } else if (written) {
      it = entries_.erase(it);
    } else {
      it->second.state = State::kWritten;
      ++it;
    }
  }
  rewriting_ = false;
}

void LogOnlySet::RequestCheckpoint() {
  MutexLock lock(&mu_);
  requested_ = true;
}

bool LogOnlySet::TakeCheckpointRequest() {
  MutexLock lock(&mu_);
  return std::exchange(requested_, false);
}

bool LogOnlySet::checkpoint_requested() const {
  MutexLock lock(&mu_);
  return requested_;
}

TimeMs LogOnlySet::OldestDue(uint64_t integration_id) const {
  MutexLock lock(&mu_);
  auto it =
      entries_.lower_bound(Key{integration_id, std::numeric_limits<TimeMs>::min(), 0});
  if (it == entries_.end() || std::get<0>(it->first) != integration_id) return kNoDue;
  return std::get<1>(it->first);
}

bool LogOnlySet::Holds(uint64_t integration_id) const {
  return OldestDue(integration_id) != kNoDue;
}

size_t LogOnlySet::size() const {
  MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace outboxd::store_internal
