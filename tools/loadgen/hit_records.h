// Hit records shaped like a web-attack detector's "hits": the bench's input.
//
// A record is `{"id", "company_id", "event_type": "hit", "occurred_at"` plus
// a payload (domain, method, path, parameter, payloads, point,
// remote_addr4, type, block_status, ids, ...). Payloads are drawn once from
// a seeded pool of distinct variants, so building a record costs a few
// appends, not a JSON serialisation: the load generator must not compete
// with outboxd for the CPU it is measuring.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace outboxd::loadgen {

struct HitRecordOptions {
  std::string id_prefix = "bench";  // ids are "<prefix>-<sequence>"
  uint64_t companies = 1;           // company_id = 1 + sequence % companies
  size_t target_bytes = 700;        // approximate size of one record
  size_t variants = 4096;           // distinct payloads in the pool
  uint64_t seed = 1;
};

class HitRecords {
 public:
  explicit HitRecords(const HitRecordOptions& options);

  // Appends record `sequence` (no trailing newline) to `out`, with
  // `occurred_at` (an RFC 3339 string) as its time.
  void Append(uint64_t sequence, std::string_view occurred_at, std::string* out) const;

  // The id of record `sequence`.
  std::string Id(uint64_t sequence) const;
  uint64_t CompanyOf(uint64_t sequence) const {
    return 1 + sequence % options_.companies;
  }

 private:
  HitRecordOptions options_;
  std::vector<std::string> payloads_;  // each ends with '}'
};

// "2024-05-01T12:00:00.123Z" for a Unix time in milliseconds.
std::string Rfc3339Millis(int64_t unix_ms);

}  // namespace outboxd::loadgen
