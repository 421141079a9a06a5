// Value codec of the outbox, dead and stats column families.
//
//   delivery  varint attempts . fixed64 first_enqueued_ms .
//             u8 log type length . log type . event bytes (the rest)
//   dead      fixed64 died_ms . varint reason length . reason .
//             fixed64 original due_ms . delivery value
//   stats     fixed64 requests . fixed64 failures
//
// fixed64 is little-endian, like RocksDB's own encodings. Decoders return
// false on anything malformed; the store turns that into a Corruption error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "outboxd/store.h"

namespace outboxd::store_internal {

// Log types are at most 100 bytes (the Azure limit); the format allows 255.
inline constexpr size_t kMaxLogTypeSize = 255;

// Everything of a delivery value before the event bytes: varint attempts,
// fixed64 first_enqueued_ms, the log type with its length byte.
inline constexpr size_t kMaxDeliveryHeaderSize = 10 + 8 + 1 + kMaxLogTypeSize;
// Writes that header to out[0, kMaxDeliveryHeaderSize) and returns its size.
// log_type.size() <= kMaxLogTypeSize (a longer one is cut there, never
// written past the buffer).
size_t EncodeDeliveryHeader(uint32_t attempts, TimeMs first_enqueued_ms,
                            std::string_view log_type, char* out);
// Appends the delivery value (header . event) to *out.
void EncodeDeliveryValue(uint32_t attempts, TimeMs first_enqueued_ms,
                         std::string_view log_type, std::string_view event,
                         std::string* out);
// Fills everything but out->key. The event is a copy of its bytes, or, with
// an `owner` that keeps `value` alive, a view into `value`.
bool DecodeDeliveryValue(std::string_view value, Delivery* out,
                         const std::shared_ptr<const void>& owner = nullptr);

std::string EncodeDeadValue(TimeMs died_ms, std::string_view reason,
                            TimeMs original_due_ms, std::string_view delivery_value);
// Fills everything but out->delivery.key.integration_id and .seq (they are
// in the key); out->delivery.key.due_ms is the original due time.
bool DecodeDeadValue(std::string_view value, DeadDelivery* out);

std::string EncodeStatsValue(uint64_t requests, uint64_t failures);
bool DecodeStatsValue(std::string_view value, uint64_t* requests, uint64_t* failures);

}  // namespace outboxd::store_internal
