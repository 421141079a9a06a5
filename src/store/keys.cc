#include "store/keys.h"

#include "store/coding.h"

namespace outboxd::store_internal {
namespace {

uint64_t TimeToKey(int64_t t) { return t < 0 ? 0 : static_cast<uint64_t>(t); }

}  // namespace

OutboxPos Successor(OutboxPos pos) {
  if (pos.seq != UINT64_MAX) return {pos.due_ms, pos.seq + 1};
  if (pos.due_ms != INT64_MAX) return {pos.due_ms + 1, 0};
  return kInfinitePos;
}

std::string OutboxKey(uint64_t integration_id, OutboxPos pos) {
  std::string key(kOutboxKeySize, '\0');
  EncodeOutboxKey(DeliveryKey{integration_id, pos.due_ms, pos.seq}, key.data());
  return key;
}

void EncodeOutboxKey(const DeliveryKey& key, char* out) {
  out = EncodeBigEndian64(out, key.integration_id);
  out = EncodeBigEndian64(out, TimeToKey(key.due_ms));
  EncodeBigEndian64(out, key.seq);
}

std::string OutboxKey(const DeliveryKey& key) {
  return OutboxKey(key.integration_id, OutboxPos{key.due_ms, key.seq});
}

std::optional<DeliveryKey> ParseOutboxKey(std::string_view key) {
  if (key.size() != kOutboxKeySize) return std::nullopt;
  const uint64_t due = DecodeBigEndian64(key.data() + 8);
  if (due > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return DeliveryKey{DecodeBigEndian64(key.data()), static_cast<TimeMs>(due),
                     DecodeBigEndian64(key.data() + 16)};
}

std::string IdKey(uint64_t id) {
  std::string key;
  PutBigEndian64(&key, id);
  return key;
}

std::optional<uint64_t> ParseIdKey(std::string_view key) {
  if (key.size() != kIdKeySize) return std::nullopt;
  return DecodeBigEndian64(key.data());
}

std::string IdPrefixEnd(uint64_t id) {
  if (id != UINT64_MAX) return IdKey(id + 1);
  // Every key of the last id is at most 24 bytes of 0xff; one byte longer
  // sorts after all of them.
  return std::string(kOutboxKeySize + 1, '\xff');
}

std::optional<uint64_t> KeyOwner(std::string_view key) {
  if (key.size() < kIdKeySize) return std::nullopt;
  return DecodeBigEndian64(key.data());
}

std::string PairKey(uint64_t first, uint64_t second) {
  std::string key;
  key.reserve(kPairKeySize);
  PutBigEndian64(&key, first);
  PutBigEndian64(&key, second);
  return key;
}

std::string TimePairKey(uint64_t first, int64_t time) {
  return PairKey(first, TimeToKey(time));
}

std::optional<PairKeyParts> ParsePairKey(std::string_view key) {
  if (key.size() != kPairKeySize) return std::nullopt;
  return PairKeyParts{DecodeBigEndian64(key.data()), DecodeBigEndian64(key.data() + 8)};
}

std::string QueuedCountName(uint64_t integration_id) {
  return std::string(kQueuedCountPrefix) + std::to_string(integration_id);
}

}  // namespace outboxd::store_internal
