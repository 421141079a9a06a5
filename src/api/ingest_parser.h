// Parses a POST /v1/events body into validated events.
//
// A request is all-or-nothing: the first bad event rejects the whole body and
// is reported with its 1-based line (NDJSON) or element number (JSON array),
// the offending field (absent when the event as a whole is at fault) and a
// message. Never crashes, whatever the input. Numbers must fit simdjson's
// types (int64, uint64 or a finite double); others make the event invalid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "outboxd/clock.h"
#include "outboxd/event.h"

namespace outboxd {

enum class BodyFormat : uint8_t {
  kNdjson,     // one event per line; blank lines are skipped but counted
  kJsonArray,  // one JSON array of events
};

// kNdjson for `application/x-ndjson`. Otherwise the body decides: kJsonArray
// when its first non-space byte is '[' (an array sent as application/json or
// without a type), else kNdjson (unknown types, a single event object).
BodyFormat DetectBodyFormat(std::string_view content_type, std::string_view body);

struct ParsedEvent {
  // The event object as received, minified (whitespace only). Points into
  // the IngestParseResult's storage or body: valid while that result lives.
  std::string_view raw;
  uint64_t company_id = 0;
  EventFacts facts;
  std::string id;
  TimeMs occurred_at_ms = 0;
};

struct IngestError {
  int line = 0;  // 1-based line or array element number
  // Unset when the event as a whole is at fault: not JSON, not an object,
  // too large or too deep, a NUL byte, a broken array around it.
  std::optional<std::string> field;
  std::string message;
};

struct IngestLimits {
  size_t max_event_bytes = 1 << 20;  // one event's JSON text (NDJSON line or element)
  int max_depth = 64;                // nested objects/arrays; the event object is 1
  size_t max_id_bytes = 256;
};

struct IngestParseResult {
  std::vector<ParsedEvent> events;  // empty when error is set
  std::optional<IngestError> error;
  // The copied (minified) events, one after another: one allocation per
  // request instead of one per event; none when no event was copied.
  // Moving the result keeps the events valid.
  std::unique_ptr<char[]> storage;
  // The body given to ParseEventsKeepingBody while compact events point
  // into it (empty when none does). A moved std::string keeps its heap
  // buffer.
  std::string body;
  bool ok() const { return !error.has_value(); }
};

// Validates every event in `body` (see DESIGN.md "API contract"): `id` a
// non-empty string, `company_id` a positive integer, `event_type` in the
// catalog, `occurred_at` RFC 3339, `risk` for vulnerabilities, optional
// booleans `experimental` and `sampled`. Any of these keys appearing twice
// is an error; other payload keys pass through untouched.
//
// `readable_after`: bytes past the end of `body` that may be read (not
// written), such as a std::string's spare capacity. Events followed by at
// least SIMDJSON_PADDING readable bytes are validated in place; the others
// are copied into a padded buffer first. The result never refers to `body`:
// its events point into its own storage.
IngestParseResult ParseEvents(std::string_view body, BodyFormat format,
                              const IngestLimits& limits = {}, size_t readable_after = 0);
// The same, except that the result keeps `body` and its events point into
// it wherever they need no change (no whitespace between tokens, which is
// what most JSON serializers send): those are not copied. The spare
// capacity of `body` counts as readable_after.
IngestParseResult ParseEventsKeepingBody(std::string body, BodyFormat format,
                                         const IngestLimits& limits = {});

}  // namespace outboxd
