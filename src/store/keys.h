// Key codec of the store's column families (layout in outboxd/store.h).
//
// Every number is a fixed-width big-endian uint64, so RocksDB's bytewise
// order is the numeric order of the tuple. Times (due, minute, hour) are
// int64 in the API; a negative time is stored as 0 (before the epoch means
// "already due" / "oldest bucket"), so keys never depend on sign encoding.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "outboxd/store.h"

namespace outboxd::store_internal {

inline constexpr size_t kOutboxKeySize = 24;  // integration . due . seq
inline constexpr size_t kPairKeySize = 16;    // dead, stats, counters
inline constexpr size_t kIdKeySize = 8;       // integrations

// Names in the meta column family.
inline constexpr std::string_view kQueuedCountPrefix = "q/";
inline constexpr std::string_view kSeqLeaseName = "seq_lease";

// Where a delivery sits inside its integration's range of the outbox: the
// (due, seq) suffix of its key. Compares like the keys do.
struct OutboxPos {
  TimeMs due_ms = 0;
  uint64_t seq = 0;
  friend auto operator<=>(const OutboxPos&, const OutboxPos&) = default;
};
// The smallest position (before every delivery) and a position above all.
inline constexpr OutboxPos kBeginPos{0, 0};
inline constexpr OutboxPos kInfinitePos{INT64_MAX, UINT64_MAX};

// The next position after `pos` (no key lies strictly between them).
OutboxPos Successor(OutboxPos pos);

std::string OutboxKey(uint64_t integration_id, OutboxPos pos);
std::string OutboxKey(const DeliveryKey& key);
// The same key written to out[0, kOutboxKeySize), for hot paths that keep
// it on the stack.
void EncodeOutboxKey(const DeliveryKey& key, char* out);
std::optional<DeliveryKey> ParseOutboxKey(std::string_view key);

// The 8-byte id: the integrations CF key, and the smallest key of the id's
// range in the outbox, dead and stats CFs.
std::string IdKey(uint64_t id);
std::optional<uint64_t> ParseIdKey(std::string_view key);
// An exclusive upper bound of every key that starts with IdKey(id) and
// below every key of a larger id (defined for id = UINT64_MAX too).
std::string IdPrefixEnd(uint64_t id);
// The id a key of any of the id-prefixed CFs belongs to.
std::optional<uint64_t> KeyOwner(std::string_view key);

// dead: integration . seq; stats: integration . minute;
// counters: company . hour.
std::string PairKey(uint64_t first, uint64_t second);
std::string TimePairKey(uint64_t first, int64_t time);
struct PairKeyParts {
  uint64_t first = 0;
  uint64_t second = 0;
};
std::optional<PairKeyParts> ParsePairKey(std::string_view key);

// "q/<decimal id>" in meta.
std::string QueuedCountName(uint64_t integration_id);

}  // namespace outboxd::store_internal
