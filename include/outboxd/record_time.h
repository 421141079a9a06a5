// The time of a record by its time field, for destinations that limit the
// time range of one request (the Logs Ingestion API: records of one call
// within 30 minutes of each other). The batcher uses RecordTime to keep a
// batch within DestinationLimits::max_time_span_ms.
#pragma once

#include <optional>
#include <string_view>

#include "absl/types/span.h"
#include "outboxd/clock.h"

namespace outboxd {

// The top-level string field `field` of the JSON object `record_json`, read
// as an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, fractions
// beyond milliseconds truncated). nullopt when the record is not a JSON
// object, lacks the field, or the value is not such a string: a record
// without a usable time does not constrain the span. Thread-safe.
//
// Example:
//   RecordTime(R"({"occurred_at":"2023-11-14T22:13:20Z"})", "occurred_at")
//     == 1'700'000'000'000
std::optional<TimeMs> RecordTime(std::string_view record_json, std::string_view field);

// ParseRfc3339 (outboxd/rfc3339.h) as an optional: nullopt for anything
// that is not an RFC 3339 date-time, including impossible dates.
std::optional<TimeMs> ParseRecordTimestamp(std::string_view text);

// Latest minus earliest RecordTime of `records` (0 when fewer than two have
// a time).
TimeMs RecordsTimeSpanMs(absl::Span<const std::string_view> records, std::string_view field);

}  // namespace outboxd
