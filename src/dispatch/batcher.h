// Groups one integration's due deliveries into requests: one log type per
// request, within the destination's body and record limits, with a short
// linger so a trickle of events still makes full batches. Pure logic.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "outboxd/destination.h"
#include "outboxd/store.h"

namespace outboxd {

// Bytes of the JSON array body that carries these event sizes:
// '[' + records joined by ',' + ']'.
inline uint64_t ArrayBodyBytes(uint64_t records_bytes, uint64_t count) {
  return 2 + records_bytes + (count > 0 ? count - 1 : 0);
}

struct BatchLimits {
  uint64_t max_body_bytes = 1ull << 20;
  uint32_t max_records = 5000;
  TimeMs linger_ms = 5;
  // The records of one batch lie within this span of their `time_field`
  // (RecordTime); records without a readable time do not constrain it.
  // 0 = no limit.
  TimeMs max_time_span_ms = 0;
  std::string time_field;
};

// The limits that apply: the tighter of the destination's and ours.
BatchLimits EffectiveLimits(const DestinationLimits& destination, const BatchLimits& ours);

class Batcher {
 public:
  explicit Batcher(BatchLimits limits) : limits_(limits) {}
  // Not copied or moved: last_ points into queues_.
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  void set_limits(BatchLimits limits) { limits_ = limits; }
  const BatchLimits& limits() const { return limits_; }

  // Queues a delivery (deliveries of one log type keep their order).
  void Add(Delivery delivery);
  // Queues an already formed batch (a bisected half) ahead of everything.
  void AddFront(std::vector<Delivery> batch);

  // The next batch to send at `now`, or an empty vector when none is ready:
  // a full batch is always ready; a partial one once its oldest delivery has
  // been due for linger_ms, or always when `flush`.
  // A single delivery too large for any request comes back alone in
  // `oversized` instead (it can only go to `dead`). A batch that reached
  // max_time_span_ms is full: it goes at once, the rest waits for the next.
  std::vector<Delivery> Next(TimeMs now, bool flush, std::vector<Delivery>* oversized);

  // Everything queued, in no particular order (the batcher is left empty).
  std::vector<Delivery> Drain();

  size_t size() const { return count_; }
  uint64_t bytes() const { return bytes_; }
  bool empty() const { return count_ == 0; }
  // When Next would next return a partial batch (kNoDue when empty).
  TimeMs ReadyAt() const;

 private:
  struct Queue {
    std::deque<Delivery> items;
    uint64_t bytes = 0;  // event bytes queued
  };
  std::vector<Delivery> Take(Queue& q, size_t n, uint64_t bytes);
  // The queue of `log_type`, created if new. Deliveries come in runs of one
  // log type: the last queue found is tried first, before the map.
  Queue& QueueOf(const std::string& log_type);

  BatchLimits limits_;
  std::deque<std::vector<Delivery>> front_;
  std::map<std::string, Queue> queues_;  // by log type
  std::map<std::string, Queue>::iterator last_ = queues_.end();  // QueueOf's
  size_t count_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace outboxd
