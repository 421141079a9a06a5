#include "api/ingest_parser.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/absl_compat.h"
#include "api/json_writer.h"
#include "outboxd/rfc3339.h"
#include "simdjson.h"

namespace outboxd {
namespace {

namespace dom = simdjson::dom;

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view TrimJsonSpace(std::string_view s) {
  while (!s.empty() && IsJsonSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsJsonSpace(s.back())) s.remove_suffix(1);
  return s;
}

// The keys the contract gives a meaning to; each may appear at most once.
enum KnownKey : unsigned {
  kId = 1u << 0,
  kCompanyId = 1u << 1,
  kEventType = 1u << 2,
  kOccurredAt = 1u << 3,
  kRisk = 1u << 4,
  kExperimental = 1u << 5,
  kSampled = 1u << 6,
};

struct KnownKeyName {
  std::string_view name;
  KnownKey key;
};
constexpr KnownKeyName kKnownKeys[] = {
    {"id", kId},
    {"company_id", kCompanyId},
    {"event_type", kEventType},
    {"occurred_at", kOccurredAt},
    {"risk", kRisk},
    {"experimental", kExperimental},
    {"sampled", kSampled},
};

// The simdjson kernel that minifies events. Parsing uses the kernel simdjson
// picks for the CPU, but on the AMD EPYC (AVX-512) development machine its
// AVX-512 ("icelake") minify took 1,041 ns per 700-byte hit against 170 ns
// for the AVX2 ("haswell") kernel, while both parse at the same speed
// (docs/performance.md). Every kernel writes the same bytes.
const simdjson::implementation& MinifyKernel() {
  static const simdjson::implementation* const kernel = [] {
    const simdjson::implementation* haswell =
        simdjson::get_available_implementations()["haswell"];
    if (haswell != nullptr && haswell->supported_by_runtime_system()) return haswell;
    return static_cast<const simdjson::implementation*>(simdjson::get_active_implementation());
  }();
  return *kernel;
}

// Called for every top-level key of every event (a hit has 26), so it
// switches on the length first: most keys need no comparison at all, the
// others one of a length known at compile time. (With a scan of kKnownKeys,
// memcmp was 8.7 % of ingest_bench's samples.)
constexpr std::optional<KnownKey> LookupKey(std::string_view name) {
  const auto match = [name](std::string_view known, KnownKey key) {
    return name == known ? std::optional<KnownKey>(key) : std::nullopt;
  };
  switch (name.size()) {
    case 2:
      return match("id", kId);
    case 4:
      return match("risk", kRisk);
    case 7:
      return match("sampled", kSampled);
    case 10:
      return name[0] == 'c' ? match("company_id", kCompanyId)
                            : match("event_type", kEventType);
    case 11:
      return match("occurred_at", kOccurredAt);
    case 12:
      return match("experimental", kExperimental);
    default:
      return std::nullopt;
  }
}
static_assert(
    [] {
      for (const KnownKeyName& k : kKnownKeys) {
        if (LookupKey(k.name) != k.key) return false;
      }
      return true;
    }(),
    "LookupKey must find every key of kKnownKeys");

// Parses and validates one event's JSON text. Reuses one simdjson parser and
// one padded buffer for every event of a request.
class EventParser {
 public:
  // The parser may read `body` and the `readable_after` bytes after it. An
  // event followed by SIMDJSON_PADDING readable bytes is parsed where it
  // lies; only the others are copied into padded_ first.
  // Events are written to result->storage, one after another, allocated
  // at the first one with body.size() + SIMDJSON_PADDING bytes (minifying
  // never adds bytes, the events do not overlap in the body, and minify may
  // write up to SIMDJSON_PADDING bytes past an event's length). With
  // `in_place`, a compact event is not copied: it points into the body.
  EventParser(const IngestLimits& limits, std::string_view body, size_t readable_after,
              IngestParseResult* result, bool in_place)
      : limits_(limits),
        readable_end_(body.data() + body.size() + readable_after),
        storage_size_(body.size() + simdjson::SIMDJSON_PADDING),
        result_(result),
        in_place_(in_place) {
    // simdjson counts the scalar level too: depth N allows N-1 nested containers.
    allocated_ = parser_.allocate(4096, static_cast<size_t>(limits.max_depth) + 1);
  }

  std::optional<IngestError> Parse(std::string_view text, int line,
                                   std::vector<ParsedEvent>* out);

 private:
  std::optional<IngestError> ParseDocument(std::string_view text, int line,
                                           dom::element* root);
  std::optional<IngestError> ReadFields(dom::object object, int line, ParsedEvent* event,
                                        unsigned* seen);
  std::optional<std::string> ReadField(KnownKey key, dom::element value,
                                       ParsedEvent* event);
  // Whether `text`, which parser_ just parsed, has no whitespace outside its
  // strings, so that minifying would copy it unchanged. Every run of such
  // whitespace is followed by a token (or ends the text), and simdjson's
  // stage 1 indexed the first byte of every token: a byte before an indexed
  // position that is whitespace gives one away.
  bool IsCompact(std::string_view text) const;

  // Where the next copied event goes.
  char* Out() {
    if (out_ == nullptr) {
      result_->storage.reset(new char[storage_size_]);
      out_ = result_->storage.get();
    }
    return out_;
  }

  const IngestLimits& limits_;
  const char* readable_end_;
  const size_t storage_size_;
  IngestParseResult* const result_;
  const bool in_place_;
  char* out_ = nullptr;
  dom::parser parser_;
  simdjson::error_code allocated_;
  std::string padded_;
};

IngestError LineError(int line, std::string message) {
  return IngestError{line, std::nullopt, std::move(message)};
}

IngestError FieldError(int line, std::string_view field, std::string message) {
  return IngestError{line, std::string(field), std::move(message)};
}

std::optional<IngestError> EventParser::ParseDocument(std::string_view text, int line,
                                                      dom::element* root) {
  if (text.size() > limits_.max_event_bytes) {
    return LineError(
        line, absl::StrCat("event is larger than ", limits_.max_event_bytes, " bytes"));
  }
  if (allocated_ != simdjson::SUCCESS) {
    return LineError(line,
                     absl::StrCat("cannot parse: ", simdjson::error_message(allocated_)));
  }
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) {
    return LineError(line, "NUL byte in event");
  }
  const char* input = text.data();
  if (static_cast<size_t>(readable_end_ - text.data()) <
      text.size() + simdjson::SIMDJSON_PADDING) {
    padded_.assign(text);
    padded_.resize(text.size() + simdjson::SIMDJSON_PADDING);
    input = padded_.data();
  }
  const simdjson::error_code err =
      parser_.parse(input, text.size(), /*realloc_if_needed=*/false).get(*root);
  if (err != simdjson::SUCCESS) {
    return LineError(line, absl::StrCat("invalid JSON: ", simdjson::error_message(err)));
  }
  if (!root->is_object()) return LineError(line, "event must be a JSON object");
  return std::nullopt;
}

// JSON's four whitespace bytes.
constexpr std::array<uint8_t, 256> kJsonSpace = [] {
  std::array<uint8_t, 256> space{};
  for (unsigned char c : {' ', '\t', '\n', '\r'}) space[c] = 1;
  return space;
}();

bool EventParser::IsCompact(std::string_view text) const {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  if (text.empty() || kJsonSpace[byte(0)] || kJsonSpace[byte(text.size() - 1)])
    return false;
  // Whitespace before the first token is text[0], checked above. Stage 1
  // writes the indexes in rising order, so checking the last one keeps
  // every read inside the text should a future simdjson index past it.
  const simdjson::internal::dom_parser_implementation& stage1 = *parser_.implementation;
  const uint32_t* index = stage1.structural_indexes.get();
  const uint32_t n = stage1.n_structural_indexes;
  if (n > 1 && index[n - 1] > text.size()) return false;
  // The byte before a token lies outside strings, so in JSON that parsed
  // it is whitespace exactly when it is at most ' ': one compare, no table.
  bool found = false;
  for (uint32_t i = 1; i < n; ++i) found |= byte(index[i] - 1) <= ' ';
  return !found;
}

std::optional<IngestError> EventParser::Parse(std::string_view text, int line,
                                              std::vector<ParsedEvent>* out) {
  dom::element root;
  if (auto err = ParseDocument(text, line, &root)) return err;
  ParsedEvent event;
  unsigned seen = 0;
  if (auto err = ReadFields(root.get_object().value_unsafe(), line, &event, &seen)) {
    return err;
  }
  for (KnownKey required : {kId, kCompanyId, kEventType, kOccurredAt}) {
    if ((seen & required) == 0) {
      for (const KnownKeyName& k : kKnownKeys) {
        if (k.key == required) return FieldError(line, k.name, "is required");
      }
    }
  }
  if (event.facts.type == EventType::kVulnerability && (seen & kRisk) == 0) {
    return FieldError(line, "risk",
                      "is required for a vulnerability (high, medium or low)");
  }
  // Whitespace-only minification of JSON simdjson just validated: numbers,
  // escapes and key order stay exactly as the producer sent them.
  const bool compact = IsCompact(text);
  if (compact && in_place_) {
    event.raw = text;
  } else {
    char* const to = Out();
    size_t raw_len = 0;
    if (compact) {
      std::memcpy(to, text.data(), text.size());
      raw_len = text.size();
    } else if (MinifyKernel().minify(reinterpret_cast<const uint8_t*>(text.data()),
                                     text.size(), reinterpret_cast<uint8_t*>(to),
                                     raw_len) != simdjson::SUCCESS ||
               raw_len > text.size()) {
      return LineError(line, "invalid JSON");
    }
    event.raw = std::string_view(to, raw_len);
    out_ += raw_len;
  }
  out->push_back(std::move(event));
  return std::nullopt;
}

std::optional<IngestError> EventParser::ReadFields(dom::object object, int line,
                                                   ParsedEvent* event, unsigned* seen) {
  // Read event_type first: whether `risk` is validated depends on it.
  std::optional<std::string_view> risk_text;
  for (dom::key_value_pair field : object) {
    const std::optional<KnownKey> key = LookupKey(field.key);
    if (!key.has_value()) continue;
    if ((*seen & *key) != 0) return FieldError(line, field.key, "duplicate key");
    *seen |= *key;
    if (*key == kRisk) {
      std::string_view text;
      if (field.value.get_string().get(text) == simdjson::SUCCESS) risk_text = text;
      continue;
    }
    if (auto message = ReadField(*key, field.value, event)) {
      return FieldError(line, field.key, std::move(*message));
    }
  }
  if (event->facts.type != EventType::kVulnerability || (*seen & kRisk) == 0) {
    return std::nullopt;
  }
  const std::optional<Risk> risk =
      risk_text.has_value() ? ParseRisk(*risk_text) : std::nullopt;
  if (!risk.has_value())
    return FieldError(line, "risk", "must be \"high\", \"medium\" or \"low\"");
  event->facts.risk = *risk;
  return std::nullopt;
}

std::optional<std::string> EventParser::ReadField(KnownKey key, dom::element value,
                                                  ParsedEvent* event) {
  std::string_view text;
  switch (key) {
    case kId:
      if (value.get_string().get(text) != simdjson::SUCCESS || text.empty() ||
          text.size() > limits_.max_id_bytes) {
        return absl::StrCat("must be a non-empty string of at most ",
                            limits_.max_id_bytes, " bytes");
      }
      event->id = std::string(text);
      return std::nullopt;
    case kCompanyId:
      if (value.get_uint64().get(event->company_id) != simdjson::SUCCESS ||
          event->company_id == 0) {
        return "must be a positive integer";
      }
      return std::nullopt;
    case kEventType: {
      if (value.get_string().get(text) != simdjson::SUCCESS) return "must be a string";
      const std::optional<EventType> type = ParseEventType(text);
      if (!type.has_value())
        return absl::StrCat("unknown event type \"", Abbreviate(text), "\"");
      event->facts.type = *type;
      return std::nullopt;
    }
    case kOccurredAt: {
      if (value.get_string().get(text) != simdjson::SUCCESS) return "must be a string";
      absl::StatusOr<TimeMs> t = ParseRfc3339(text);
      if (!t.ok()) return std::string(t.status().message());
      event->occurred_at_ms = *t;
      return std::nullopt;
    }
    case kExperimental:
      if (value.get_bool().get(event->facts.experimental) != simdjson::SUCCESS) {
        return "must be a boolean";
      }
      return std::nullopt;
    case kSampled:
      if (value.get_bool().get(event->facts.sampled) != simdjson::SUCCESS) {
        return "must be a boolean";
      }
      return std::nullopt;
    case kRisk:
      return std::nullopt;  // validated by ReadFields once event_type is known
  }
  return std::nullopt;
}

// Splits the text of a JSON array into its top-level elements, honouring
// strings and escapes. It only finds boundaries: each element is validated
// by simdjson on its own, which is what lets an error name its element.
class ArrayScanner {
 public:
  enum class Step { kElement, kEnd, kError };

  explicit ArrayScanner(std::string_view body) : s_(body) {}

  // On kError, *element holds the message.
  Step Next(std::string_view* element, std::string* error);

 private:
  void SkipSpace() {
    while (pos_ < s_.size() && IsJsonSpace(s_[pos_])) ++pos_;
  }
  Step Finish(std::string* error);
  bool ScanElement(std::string* error);

  std::string_view s_;
  size_t pos_ = 0;
  bool started_ = false;
};

ArrayScanner::Step ArrayScanner::Finish(std::string* error) {
  ++pos_;  // the closing ']'
  SkipSpace();
  if (pos_ != s_.size()) {
    *error = "unexpected content after the JSON array";
    return Step::kError;
  }
  return Step::kEnd;
}

ArrayScanner::Step ArrayScanner::Next(std::string_view* element, std::string* error) {
  SkipSpace();
  if (!started_) {
    started_ = true;
    if (pos_ >= s_.size() || s_[pos_] != '[') {
      *error = "body is not a JSON array";
      return Step::kError;
    }
    ++pos_;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') return Finish(error);
  } else {
    if (pos_ < s_.size() && s_[pos_] == ']') return Finish(error);
    if (pos_ >= s_.size() || s_[pos_] != ',') {
      *error = pos_ >= s_.size() ? "unterminated JSON array" : "expected ',' or ']'";
      return Step::kError;
    }
    ++pos_;
    SkipSpace();
  }
  const size_t start = pos_;
  if (!ScanElement(error)) return Step::kError;
  *element = TrimJsonSpace(s_.substr(start, pos_ - start));
  if (element->empty()) {
    *error = "empty array element";
    return Step::kError;
  }
  return Step::kElement;
}

// Advances pos_ to the ',' or ']' that ends the current element.
bool ArrayScanner::ScanElement(std::string* error) {
  int64_t depth = 0;
  bool in_string = false;
  for (; pos_ < s_.size(); ++pos_) {
    const char c = s_[pos_];
    if (in_string) {
      if (c == '\\') {
        ++pos_;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0) {
        if (c == ']') return true;
        *error = "unbalanced '}'";
        return false;
      }
      --depth;
    } else if (c == ',' && depth == 0) {
      return true;
    }
  }
  *error = "unterminated JSON array";
  return false;
}

IngestParseResult Fail(IngestError error) {
  IngestParseResult result;
  result.error = std::move(error);
  return result;
}

// Both fill result->events, or return the first error.
std::optional<IngestError> ParseNdjson(std::string_view body, const IngestLimits& limits,
                                       size_t readable_after, bool in_place,
                                       IngestParseResult* result) {
  EventParser parser(limits, body, readable_after, result, in_place);
  int line = 0;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view text = body.substr(pos, end - pos);
    pos = end + 1;
    ++line;
    if (TrimJsonSpace(text).empty()) continue;
    if (auto err = parser.Parse(text, line, &result->events)) return err;
  }
  return std::nullopt;
}

std::optional<IngestError> ParseArray(std::string_view body, const IngestLimits& limits,
                                      size_t readable_after, bool in_place,
                                      IngestParseResult* result) {
  EventParser parser(limits, body, readable_after, result, in_place);
  ArrayScanner scanner(body);
  std::string_view element;
  std::string error;
  for (int index = 1;; ++index) {
    switch (scanner.Next(&element, &error)) {
      case ArrayScanner::Step::kEnd:
        return std::nullopt;
      case ArrayScanner::Step::kError:
        return LineError(index, std::move(error));
      case ArrayScanner::Step::kElement:
        if (auto err = parser.Parse(element, index, &result->events)) return err;
    }
  }
}

}  // namespace

BodyFormat DetectBodyFormat(std::string_view content_type, std::string_view body) {
  const std::string_view media_type =
      TrimJsonSpace(content_type.substr(0, content_type.find(';')));
  if (absl::EqualsIgnoreCase(ToAbsl(media_type), "application/x-ndjson"))
    return BodyFormat::kNdjson;
  const std::string_view trimmed = TrimJsonSpace(body);
  return !trimmed.empty() && trimmed.front() == '[' ? BodyFormat::kJsonArray
                                                    : BodyFormat::kNdjson;
}

namespace {

// Parses `body` into *result, which must not move meanwhile: `body` may lie
// in it. On an error, *result is replaced by the error alone.
void ParseInto(std::string_view body, BodyFormat format, const IngestLimits& limits,
               size_t readable_after, bool in_place, IngestParseResult* result) {
  std::optional<IngestError> err =
      format == BodyFormat::kJsonArray
          ? ParseArray(body, limits, readable_after, in_place, result)
          : ParseNdjson(body, limits, readable_after, in_place, result);
  if (err.has_value()) *result = Fail(std::move(*err));
}

}  // namespace

IngestParseResult ParseEvents(std::string_view body, BodyFormat format,
                              const IngestLimits& limits, size_t readable_after) {
  IngestParseResult result;
  ParseInto(body, format, limits, readable_after, /*in_place=*/false, &result);
  return result;
}

IngestParseResult ParseEventsKeepingBody(std::string body, BodyFormat format,
                                         const IngestLimits& limits) {
  IngestParseResult result;
  result.body = std::move(body);
  // The parse reads the body where the result holds it. Moving the result
  // afterwards moves the body's heap buffer, and the events stay valid; a
  // body short enough to live inside the string object itself would move
  // with it, so its events are copied.
  const std::less<const void*> before;
  const bool on_heap = before(result.body.data(), &result.body) ||
                       !before(result.body.data(), &result.body + 1);
  ParseInto(result.body, format, limits, result.body.capacity() - result.body.size(),
            on_heap, &result);
  // A body whose events were all copied (sent with whitespace) is not kept
  // beside their copies. Only a body that mixes both kinds holds both.
  if (result.storage != nullptr &&
      std::none_of(result.events.begin(), result.events.end(), [&](const ParsedEvent& e) {
        return !before(e.raw.data(), result.body.data()) &&
               before(e.raw.data(), result.body.data() + result.body.size());
      })) {
    std::string().swap(result.body);
  }
  return result;
}

}  // namespace outboxd
