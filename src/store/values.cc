#include "store/values.h"

#include <algorithm>
#include <cstring>

#include "store/coding.h"

namespace outboxd::store_internal {

size_t EncodeDeliveryHeader(uint32_t attempts, TimeMs first_enqueued_ms,
                            std::string_view log_type, char* out) {
  // Callers refuse longer log types first (Changes fails the batch); the
  // bound only keeps a caller that did not from writing past `out`.
  const size_t type_size = std::min(log_type.size(), kMaxLogTypeSize);
  char* p = EncodeVarint64(out, attempts);
  p = EncodeFixed64(p, static_cast<uint64_t>(first_enqueued_ms));
  *p++ = static_cast<char>(type_size);
  std::memcpy(p, log_type.data(), type_size);
  return static_cast<size_t>(p - out) + type_size;
}

void EncodeDeliveryValue(uint32_t attempts, TimeMs first_enqueued_ms,
                         std::string_view log_type, std::string_view event,
                         std::string* out) {
  char header[kMaxDeliveryHeaderSize];
  const size_t n = EncodeDeliveryHeader(attempts, first_enqueued_ms, log_type, header);
  out->reserve(out->size() + n + event.size());
  out->append(header, n);
  out->append(event);
}

bool DecodeDeliveryValue(std::string_view value, Delivery* out,
                         const std::shared_ptr<const void>& owner) {
  uint64_t attempts = 0;
  uint64_t first_enqueued = 0;
  if (!GetVarint64(&value, &attempts) || attempts > UINT32_MAX) return false;
  if (!GetFixed64(&value, &first_enqueued) || value.empty()) return false;
  const size_t log_type_size = static_cast<uint8_t>(value[0]);
  value.remove_prefix(1);
  if (value.size() < log_type_size) return false;
  out->attempts = static_cast<uint32_t>(attempts);
  out->first_enqueued_ms = static_cast<TimeMs>(first_enqueued);
  out->log_type.assign(value.substr(0, log_type_size));
  const std::string_view event = value.substr(log_type_size);
  out->event = owner ? SharedBytes(owner, event) : SharedBytes(event);
  return true;
}

std::string EncodeDeadValue(TimeMs died_ms, std::string_view reason,
                            TimeMs original_due_ms, std::string_view delivery_value) {
  std::string out;
  out.reserve(8 + 5 + reason.size() + 8 + delivery_value.size());
  PutFixed64(&out, static_cast<uint64_t>(died_ms));
  PutVarint64(&out, reason.size());
  out.append(reason);
  PutFixed64(&out, static_cast<uint64_t>(original_due_ms));
  out.append(delivery_value);
  return out;
}

bool DecodeDeadValue(std::string_view value, DeadDelivery* out) {
  uint64_t died = 0;
  uint64_t reason_size = 0;
  uint64_t due = 0;
  if (!GetFixed64(&value, &died) || !GetVarint64(&value, &reason_size)) return false;
  if (value.size() < reason_size) return false;
  out->reason.assign(value.substr(0, reason_size));
  value.remove_prefix(reason_size);
  if (!GetFixed64(&value, &due)) return false;
  out->died_ms = static_cast<TimeMs>(died);
  out->delivery.key.due_ms = static_cast<TimeMs>(due);
  return DecodeDeliveryValue(value, &out->delivery);
}

std::string EncodeStatsValue(uint64_t requests, uint64_t failures) {
  std::string out;
  PutFixed64(&out, requests);
  PutFixed64(&out, failures);
  return out;
}

bool DecodeStatsValue(std::string_view value, uint64_t* requests, uint64_t* failures) {
  return value.size() == 16 && GetFixed64(&value, requests) &&
         GetFixed64(&value, failures);
}

}  // namespace outboxd::store_internal
