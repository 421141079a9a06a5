#include "dispatch/batcher.h"

#include <algorithm>
#include <optional>
#include <string_view>

#include "outboxd/record_time.h"

namespace outboxd {

BatchLimits EffectiveLimits(const DestinationLimits& destination, const BatchLimits& ours) {
  BatchLimits out = ours;
  out.max_body_bytes = std::min(ours.max_body_bytes, destination.max_body_bytes);
  out.max_records = std::min(ours.max_records, destination.max_records);
  out.max_time_span_ms = destination.max_time_span_ms;
  out.time_field = destination.time_field;
  return out;
}

Batcher::Queue& Batcher::QueueOf(const std::string& log_type) {
  if (last_ == queues_.end() || last_->first != log_type) {
    last_ = queues_.try_emplace(log_type).first;
  }
  return last_->second;
}

void Batcher::Add(Delivery delivery) {
  Queue& q = QueueOf(delivery.log_type);
  q.bytes += delivery.event.size();
  bytes_ += delivery.event.size();
  ++count_;
  q.items.push_back(std::move(delivery));
}

void Batcher::AddFront(std::vector<Delivery> batch) {
  for (const Delivery& d : batch) bytes_ += d.event.size();
  count_ += batch.size();
  front_.push_front(std::move(batch));
}

namespace {

// Earliest and latest record time of a batch being formed.
struct TimeSpan {
  std::optional<TimeMs> earliest;
  std::optional<TimeMs> latest;
  // Widens the span by `record` and returns true, or returns false (span
  // unchanged) when the record would take it past limits.max_time_span_ms.
  bool Fits(std::string_view record, const BatchLimits& limits) {
    const std::optional<TimeMs> t = RecordTime(record, limits.time_field);
    if (!t) return true;
    const TimeMs lo = std::min(earliest.value_or(*t), *t);
    const TimeMs hi = std::max(latest.value_or(*t), *t);
    if (hi - lo > limits.max_time_span_ms) return false;
    earliest = lo;
    latest = hi;
    return true;
  }
};

}  // namespace

std::vector<Delivery> Batcher::Take(Queue& q, size_t n, uint64_t bytes) {
  std::vector<Delivery> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(std::move(q.items.front()));
    q.items.pop_front();
  }
  q.bytes -= bytes;
  bytes_ -= bytes;
  count_ -= n;
  return out;
}

std::vector<Delivery> Batcher::Next(TimeMs now, bool flush, std::vector<Delivery>* oversized) {
  if (!front_.empty()) {
    std::vector<Delivery> batch = std::move(front_.front());
    front_.pop_front();
    for (const Delivery& d : batch) bytes_ -= d.event.size();
    count_ -= batch.size();
    return batch;
  }
  for (auto it = queues_.begin(); it != queues_.end();) {
    Queue& q = it->second;
    if (q.items.empty()) {
      if (it == last_) last_ = queues_.end();
      it = queues_.erase(it);
      continue;
    }
    // Fill greedily in order; stop at the first record that does not fit.
    size_t n = 0;
    uint64_t bytes = 0;
    bool full = false;
    TimeSpan span;
    for (const Delivery& d : q.items) {
      uint64_t next = bytes + d.event.size();
      if (n == limits_.max_records || ArrayBodyBytes(next, n + 1) > limits_.max_body_bytes ||
          (limits_.max_time_span_ms > 0 && !span.Fits(d.event, limits_))) {
        full = true;
        break;
      }
      bytes = next;
      ++n;
    }
    full = full || n == limits_.max_records;
    if (n == 0) {  // the first record alone is over the limit
      oversized->push_back(std::move(q.items.front()));
      q.bytes -= oversized->back().event.size();
      bytes_ -= oversized->back().event.size();
      --count_;
      q.items.pop_front();
      continue;
    }
    bool lingered = q.items.front().key.due_ms + limits_.linger_ms <= now;
    if (full || flush || lingered) return Take(q, n, bytes);
    ++it;
  }
  return {};
}

std::vector<Delivery> Batcher::Drain() {
  std::vector<Delivery> out;
  out.reserve(count_);
  for (auto& batch : front_)
    for (Delivery& d : batch) out.push_back(std::move(d));
  for (auto& [type, q] : queues_)
    for (Delivery& d : q.items) out.push_back(std::move(d));
  front_.clear();
  queues_.clear();
  last_ = queues_.end();
  count_ = 0;
  bytes_ = 0;
  return out;
}

TimeMs Batcher::ReadyAt() const {
  if (!front_.empty()) return 0;
  TimeMs at = kNoDue;
  for (const auto& [type, q] : queues_)
    if (!q.items.empty()) at = std::min(at, q.items.front().key.due_ms + limits_.linger_ms);
  return at;
}

}  // namespace outboxd
