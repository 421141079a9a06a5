// RFC 3339 date-times, as the API reads and writes them.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "outboxd/clock.h"

namespace outboxd {

// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)` (RFC 3339 section 5.6;
// 'T' and 'Z' may be lower case, a leap second 60 is accepted). Fractions
// beyond milliseconds are truncated. InvalidArgument for anything else,
// including impossible dates such as 2023-02-29.
absl::StatusOr<TimeMs> ParseRfc3339(std::string_view text);

// "2023-11-14T22:13:20.000Z": UTC, always with milliseconds. Years outside
// 0000..9999 are clamped to that range.
std::string FormatRfc3339(TimeMs t);

}  // namespace outboxd
