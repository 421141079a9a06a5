#include "outboxd/record_time.h"

#include <algorithm>
#include <cstdint>

#include "outboxd/rfc3339.h"
#include "simdjson.h"

namespace outboxd {

std::optional<TimeMs> ParseRecordTimestamp(std::string_view text) {
  absl::StatusOr<TimeMs> t = ParseRfc3339(text);
  if (!t.ok()) return std::nullopt;
  return *t;
}

std::optional<TimeMs> RecordTime(std::string_view record_json, std::string_view field) {
  // One parser per thread: its buffers are reused across records.
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string padded(record_json);
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS) return std::nullopt;
  simdjson::ondemand::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) return std::nullopt;
  for (auto member : object) {
    std::string_view key;
    if (member.unescaped_key().get(key) != simdjson::SUCCESS) return std::nullopt;
    if (key != field) continue;  // the iteration skips the value
    std::string_view value;
    if (member.value().get_string().get(value) != simdjson::SUCCESS) return std::nullopt;
    return ParseRecordTimestamp(value);
  }
  return std::nullopt;
}

TimeMs RecordsTimeSpanMs(absl::Span<const std::string_view> records, std::string_view field) {
  std::optional<TimeMs> earliest;
  std::optional<TimeMs> latest;
  for (std::string_view record : records) {
    const std::optional<TimeMs> t = RecordTime(record, field);
    if (!t) continue;
    earliest = std::min(earliest.value_or(*t), *t);
    latest = std::max(latest.value_or(*t), *t);
  }
  return earliest ? *latest - *earliest : 0;
}

}  // namespace outboxd
