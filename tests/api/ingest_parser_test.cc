#include "api/ingest_parser.h"

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace outboxd {
namespace {

// A valid hit with `extra` members appended.
std::string Hit(absl::string_view id = "e1", absl::string_view extra = "") {
  return absl::StrCat(
      R"({"id":")", id,
      R"(","company_id":7,"event_type":"hit","occurred_at":"2024-05-01T12:00:00Z")",
      extra, "}");
}

IngestError ErrorOf(std::string_view body, BodyFormat format = BodyFormat::kNdjson,
                    const IngestLimits& limits = {}) {
  IngestParseResult r = ParseEvents(body, format, limits);
  EXPECT_FALSE(r.ok()) << body;
  EXPECT_TRUE(r.events.empty());
  return r.error.value_or(IngestError{});
}

TEST(DetectBodyFormatTest, ArrayOnlyWhenBodyStartsWithBracket) {
  EXPECT_EQ(DetectBodyFormat("application/json", " \n[{}]"), BodyFormat::kJsonArray);
  EXPECT_EQ(DetectBodyFormat("application/json; charset=utf-8", "[]"),
            BodyFormat::kJsonArray);
  EXPECT_EQ(DetectBodyFormat("", "[{}]"), BodyFormat::kJsonArray);
  EXPECT_EQ(DetectBodyFormat("application/json", "{}"), BodyFormat::kNdjson);
  EXPECT_EQ(DetectBodyFormat("text/plain", "{}\n{}"), BodyFormat::kNdjson);
  EXPECT_EQ(DetectBodyFormat("Application/X-NDJSON", "[1]"), BodyFormat::kNdjson);
}

TEST(IngestParserTest, ParsesNdjsonWithBlankAndCrlfLines) {
  const std::string body = absl::StrCat(
      Hit("a", R"(,"experimental":true,"sampled":false,"path":"/x y")"), "\r\n\n   \n",
      R"({ "id" : "b", "company_id" : 18446744073709551615, "event_type" : "vulnerability",)",
      R"( "risk" : "medium", "occurred_at" : "2024-05-01T14:30:00+02:30", "n": 1.0e2 })",
      "\n");
  IngestParseResult r = ParseEvents(body, BodyFormat::kNdjson);
  ASSERT_TRUE(r.ok()) << r.error->message;
  ASSERT_EQ(r.events.size(), 2u);
  const ParsedEvent& a = r.events[0];
  EXPECT_EQ(a.id, "a");
  EXPECT_EQ(a.company_id, 7u);
  EXPECT_EQ(a.facts.type, EventType::kHit);
  EXPECT_TRUE(a.facts.experimental);
  EXPECT_FALSE(a.facts.sampled);
  EXPECT_EQ(a.occurred_at_ms, 1714564800000);
  EXPECT_EQ(a.raw, Hit("a", R"(,"experimental":true,"sampled":false,"path":"/x y")"));
  const ParsedEvent& b = r.events[1];
  EXPECT_EQ(b.company_id, 18446744073709551615u);
  EXPECT_EQ(b.facts.type, EventType::kVulnerability);
  EXPECT_EQ(b.facts.risk, Risk::kMedium);
  EXPECT_TRUE(b.facts.sampled);
  EXPECT_EQ(b.occurred_at_ms, 1714564800000);
  // Whitespace goes, the number keeps its spelling.
  EXPECT_EQ(b.raw,
            R"({"id":"b","company_id":18446744073709551615,"event_type":"vulnerability",)"
            R"("risk":"medium","occurred_at":"2024-05-01T14:30:00+02:30","n":1.0e2})");
}

// A compact event is stored as sent; one with whitespace between any two
// tokens is minified. Whitespace goes in at every place outside the strings
// of a compact event in turn (the parser skips minifying an event whose
// tokens all follow each other directly, so each place must give it away).
TEST(IngestParserTest, WhitespaceAnywhereBetweenTokensIsRemoved) {
  const std::string compact =
      Hit("a", R"(,"x":[1,{"y":null,"z":[]}],"s":"a b\" {\\","t":true,"n":-1.5e3)");
  IngestParseResult same = ParseEvents(compact, BodyFormat::kNdjson);
  ASSERT_TRUE(same.ok()) << same.error->message;
  ASSERT_EQ(same.events.size(), 1u);
  EXPECT_EQ(same.events[0].raw, compact);
  bool in_string = false;
  int checked = 0;
  for (size_t at = 1; at < compact.size(); ++at) {
    const char before = compact[at - 1];
    if (in_string) {
      if (before == '\\') {
        ++at;  // the escaped byte
        continue;
      }
      if (before == '"') in_string = false;
    } else if (before == '"') {
      in_string = true;
    }
    if (in_string) continue;
    auto atom = [](char c) { return absl::ascii_isalnum(c) || c == '.' || c == '-'; };
    if (atom(before) && atom(compact[at])) continue;  // inside null, true, -1.5e3
    for (const char* space : {" ", "\t", "\r", " \t "}) {
      const std::string spaced =
          absl::StrCat(compact.substr(0, at), space, compact.substr(at));
      IngestParseResult r = ParseEvents(spaced, BodyFormat::kNdjson);
      ASSERT_TRUE(r.ok()) << spaced << ": " << r.error->message;
      ASSERT_EQ(r.events.size(), 1u);
      EXPECT_EQ(r.events[0].raw, compact) << spaced;
      ++checked;
    }
  }
  EXPECT_GT(checked, 4 * 40);  // every gap between the ~50 tokens
}

// ParseEventsKeepingBody keeps the body: compact events point into it, and
// only an event that needs minifying is copied. The events stay valid when
// the result moves.
TEST(IngestParserTest, TheOwningParseCopiesOnlyEventsThatChange) {
  auto in = [](std::string_view part, std::string_view whole) {
    return part.data() >= whole.data() &&
           part.data() + part.size() <= whole.data() + whole.size();
  };
  for (BodyFormat format : {BodyFormat::kNdjson, BodyFormat::kJsonArray}) {
    const bool array = format == BodyFormat::kJsonArray;
    const std::string spaced = R"({ "id":"b","company_id":7,"event_type":"hit",)"
                               R"("occurred_at":"2024-05-01T12:00:00Z" })";
    const std::string sep = array ? "," : "\n";
    std::string body = absl::StrCat(array ? "[" : "", Hit("a"), sep, spaced, sep,
                                    Hit("c"), array ? "]" : "");
    IngestParseResult parsed = ParseEventsKeepingBody(std::move(body), format);
    ASSERT_TRUE(parsed.ok()) << parsed.error->message;
    ASSERT_EQ(parsed.events.size(), 3u);
    const std::string_view kept = parsed.body;
    EXPECT_TRUE(in(parsed.events[0].raw, kept));
    EXPECT_FALSE(in(parsed.events[1].raw, kept));  // minified into the storage
    EXPECT_TRUE(in(parsed.events[2].raw, kept));
    const IngestParseResult moved = std::move(parsed);
    EXPECT_EQ(moved.events[0].raw, Hit("a"));
    EXPECT_EQ(moved.events[1].raw, Hit("b"));
    EXPECT_EQ(moved.events[2].raw, Hit("c"));

    IngestParseResult compact = ParseEventsKeepingBody(
        absl::StrCat(array ? "[" : "", Hit("a"), sep, Hit("c"), array ? "]" : ""),
        format);
    ASSERT_TRUE(compact.ok()) << compact.error->message;
    EXPECT_EQ(compact.storage, nullptr);  // nothing copied
    EXPECT_EQ(compact.events[1].raw, Hit("c"));

    // Every event copied: the body is not kept beside the copies.
    IngestParseResult spaced_only = ParseEventsKeepingBody(
        absl::StrCat(array ? "[" : "", spaced, sep, spaced, array ? "]" : ""), format);
    ASSERT_TRUE(spaced_only.ok()) << spaced_only.error->message;
    EXPECT_TRUE(spaced_only.body.empty());
    EXPECT_EQ(spaced_only.events[1].raw, Hit("b"));
  }
}

// A body short enough to live inside the std::string object is parsed
// where the result holds it, and answers as the copying parse does (found
// by the fuzzer: the parse once read it after the result had moved).
TEST(IngestParserTest, AShortBodyKeptInItsStringParsesAlike) {
  for (const char* body : {R"({"{!id)", "{}", R"({"id":1})", "[1]"}) {
    for (BodyFormat format : {BodyFormat::kNdjson, BodyFormat::kJsonArray}) {
      const IngestParseResult copied = ParseEvents(body, format);
      const IngestParseResult kept = ParseEventsKeepingBody(body, format);
      ASSERT_FALSE(copied.ok()) << body;
      ASSERT_FALSE(kept.ok()) << body;
      EXPECT_EQ(kept.error->message, copied.error->message) << body;
      EXPECT_EQ(kept.error->field, copied.error->field) << body;
      EXPECT_EQ(kept.error->line, copied.error->line) << body;
    }
  }
}

TEST(IngestParserTest, ParsesJsonArray) {
  const std::string body = absl::StrCat(
      "[ ", Hit("a"), " ,\n", Hit("b", R"(,"s":"],[,{")"), ",", Hit("c"), " ]\n");
  IngestParseResult r = ParseEvents(body, BodyFormat::kJsonArray);
  ASSERT_TRUE(r.ok()) << r.error->message;
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.events[1].id, "b");
  EXPECT_EQ(r.events[1].raw, Hit("b", R"(,"s":"],[,{")"));
  EXPECT_EQ(r.events[2].id, "c");
}

TEST(IngestParserTest, EmptyBodiesHaveNoEvents) {
  for (std::string_view body : {"", "\n\n", "  \r\n"}) {
    IngestParseResult r = ParseEvents(body, BodyFormat::kNdjson);
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.events.empty());
  }
  IngestParseResult r = ParseEvents(" [ ] ", BodyFormat::kJsonArray);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.events.empty());
}

TEST(IngestParserTest, BadLineInTheMiddleRejectsTheWholeRequest) {
  const std::string body = absl::StrJoin(
      {Hit("1"), Hit("2"), std::string(""), std::string(R"({"id":"4",)"), Hit("5")},
      "\n");
  IngestError e = ErrorOf(body);
  EXPECT_EQ(e.line, 4);  // the blank line 3 still counts
  EXPECT_FALSE(e.field.has_value());
  EXPECT_NE(e.message.find("invalid JSON"), std::string::npos) << e.message;
}

TEST(IngestParserTest, NotAnObjectHasNoField) {
  IngestError e = ErrorOf(absl::StrCat(Hit(), "\n\"just a string\""));
  EXPECT_EQ(e.line, 2);
  EXPECT_FALSE(e.field.has_value());
  EXPECT_EQ(e.message, "event must be a JSON object");
  e = ErrorOf(absl::StrCat("[", Hit(), ",[1,2]]"), BodyFormat::kJsonArray);
  EXPECT_EQ(e.line, 2);
  EXPECT_FALSE(e.field.has_value());
}

TEST(IngestParserTest, MissingRequiredFieldsAreNamed) {
  const std::string all =
      R"("id":"x","company_id":1,"event_type":"hit","occurred_at":"2024-05-01T12:00:00Z")";
  for (absl::string_view field : {"id", "company_id", "event_type", "occurred_at"}) {
    std::vector<std::string> members;
    for (absl::string_view m : absl::StrSplit(all, ',')) {
      if (!absl::StartsWith(m, absl::StrCat("\"", field, "\""))) members.emplace_back(m);
    }
    IngestError e = ErrorOf(absl::StrCat("{", absl::StrJoin(members, ","), "}"));
    EXPECT_EQ(e.line, 1);
    EXPECT_EQ(e.field, std::string(field));
    EXPECT_EQ(e.message, "is required");
  }
}

struct BadField {
  std::string event;
  std::string field;
};

TEST(IngestParserTest, WrongTypesAndValuesAreNamed) {
  const std::string t = R"("occurred_at":"2024-05-01T12:00:00Z")";
  const std::vector<BadField> cases = {
      {absl::StrCat(R"({"id":5,"company_id":1,"event_type":"hit",)", t, "}"), "id"},
      {absl::StrCat(R"({"id":"","company_id":1,"event_type":"hit",)", t, "}"), "id"},
      {absl::StrCat(R"({"id":"x","company_id":"1","event_type":"hit",)", t, "}"),
       "company_id"},
      {absl::StrCat(R"({"id":"x","company_id":0,"event_type":"hit",)", t, "}"),
       "company_id"},
      {absl::StrCat(R"({"id":"x","company_id":-3,"event_type":"hit",)", t, "}"),
       "company_id"},
      {absl::StrCat(R"({"id":"x","company_id":1.5,"event_type":"hit",)", t, "}"),
       "company_id"},
      {absl::StrCat(R"({"id":"x","company_id":1,"event_type":7,)", t, "}"), "event_type"},
      {absl::StrCat(R"({"id":"x","company_id":1,"event_type":"hits",)", t, "}"),
       "event_type"},
      {R"({"id":"x","company_id":1,"event_type":"hit","occurred_at":"yesterday"})",
       "occurred_at"},
      {R"({"id":"x","company_id":1,"event_type":"hit","occurred_at":1714564800})",
       "occurred_at"},
      {absl::StrCat(R"({"id":"x","company_id":1,"event_type":"vulnerability",)", t, "}"),
       "risk"},
      {absl::StrCat(
           R"({"id":"x","company_id":1,"event_type":"vulnerability","risk":"severe",)", t,
           "}"),
       "risk"},
      {absl::StrCat(R"({"id":"x","company_id":1,"event_type":"vulnerability","risk":1,)",
                    t, "}"),
       "risk"},
      {absl::StrCat(
           R"({"id":"x","company_id":1,"event_type":"hit","experimental":"yes",)", t,
           "}"),
       "experimental"},
      {absl::StrCat(R"({"id":"x","company_id":1,"event_type":"hit","sampled":0,)", t,
                    "}"),
       "sampled"},
  };
  for (const BadField& c : cases) {
    IngestError e = ErrorOf(absl::StrCat(Hit("ok"), "\n", c.event));
    EXPECT_EQ(e.line, 2) << c.event;
    EXPECT_EQ(e.field, c.field) << c.event << ": " << e.message;
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(IngestParserTest, UnknownEventTypeIsQuotedInTheMessage) {
  IngestError e = ErrorOf(
      R"({"id":"x","company_id":1,"event_type":"hitz","occurred_at":"2024-05-01T12:00:00Z"})");
  EXPECT_EQ(e.field, "event_type");
  EXPECT_EQ(e.message, "unknown event type \"hitz\"");
}

TEST(IngestParserTest, RiskIsOnlyValidatedForVulnerabilities) {
  IngestParseResult r = ParseEvents(Hit("x", R"(,"risk":42)"), BodyFormat::kNdjson);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.events[0].facts.risk, Risk::kNone);
}

TEST(IngestParserTest, DuplicateContractKeysAreErrorsPayloadDuplicatesPass) {
  IngestError e = ErrorOf(Hit("x", R"(,"id":"y")"));
  EXPECT_EQ(e.field, "id");
  EXPECT_EQ(e.message, "duplicate key");
  e = ErrorOf(Hit("x", R"(,"company_id":8)"));
  EXPECT_EQ(e.field, "company_id");
  IngestParseResult r = ParseEvents(Hit("x", R"(,"p":1,"p":2)"), BodyFormat::kNdjson);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.events[0].raw, Hit("x", R"(,"p":1,"p":2)"));
}

// The contract's keys are found by length first: a key of the same length
// (or the same length and first letter) as one of them is any other payload
// key. Read as the contract key it resembles, each of these would be a
// duplicate key or a value of the wrong type.
TEST(IngestParserTest, KeysThatOnlyShareALengthWithAContractKeyArePayload) {
  const std::string extra =
      R"(,"ix":[],"rusk":7,"sampler":false,"company_ix":"a","cvent_type":"b",)"
      R"("event_typo":1,"occurred_an":false,"experimentax":true,)"
      R"("Id":null,"Risk":{},"SAMPLED":false,"company_iD":-1,"occurred_At":2,"Experimental":true)";
  IngestParseResult r = ParseEvents(Hit("x", extra), BodyFormat::kNdjson);
  ASSERT_TRUE(r.ok()) << r.error->field.value_or("") << ": " << r.error->message;
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].id, "x");
  EXPECT_TRUE(r.events[0].facts.sampled);  // the default
  EXPECT_FALSE(r.events[0].facts.experimental);
  EXPECT_EQ(r.events[0].facts.risk, Risk::kNone);
  EXPECT_EQ(r.events[0].raw, Hit("x", extra));
}

// And every contract key is still found, each at its own length.
TEST(IngestParserTest, EveryContractKeyIsRead) {
  IngestParseResult r = ParseEvents(
      R"({"risk":"high","sampled":false,"experimental":true,"id":"v1","company_id":3,)"
      R"("event_type":"vulnerability","occurred_at":"2024-05-01T12:00:00Z"})",
      BodyFormat::kNdjson);
  ASSERT_TRUE(r.ok()) << r.error->field.value_or("") << ": " << r.error->message;
  EXPECT_EQ(r.events[0].id, "v1");
  EXPECT_EQ(r.events[0].company_id, 3u);
  EXPECT_EQ(r.events[0].facts.type, EventType::kVulnerability);
  EXPECT_EQ(r.events[0].facts.risk, Risk::kHigh);
  EXPECT_FALSE(r.events[0].facts.sampled);
  EXPECT_TRUE(r.events[0].facts.experimental);
  EXPECT_EQ(r.events[0].occurred_at_ms, 1'714'564'800'000);
}

TEST(IngestParserTest, InvalidUtf8IsNotJson) {
  IngestError e = ErrorOf(Hit("x", ",\"p\":\"\xc3\x28\""));
  EXPECT_EQ(e.line, 1);
  EXPECT_FALSE(e.field.has_value());
  e = ErrorOf(Hit("\xff"));
  EXPECT_FALSE(e.field.has_value());
}

TEST(IngestParserTest, NulBytesAreRejectedEscapedNulPasses) {
  IngestError e = ErrorOf(Hit("x", std::string(",\"p\":\"a\0b\"", 11)));
  EXPECT_EQ(e.line, 1);
  EXPECT_EQ(e.message, "NUL byte in event");
  e = ErrorOf(absl::StrCat(Hit(), "\n", std::string(1, '\0')));
  EXPECT_EQ(e.line, 2);
  IngestParseResult r = ParseEvents(Hit("x", R"(,"p":"a\u0000b")"), BodyFormat::kNdjson);
  EXPECT_TRUE(r.ok());
}

std::string Nested(int depth) {
  // `depth` containers in total, the event object included.
  std::string inner = "1";
  for (int i = 1; i < depth; ++i) inner = absl::StrCat("[", inner, "]");
  return Hit("x", absl::StrCat(R"(,"deep":)", inner));
}

TEST(IngestParserTest, NestingDepthIsBounded) {
  EXPECT_TRUE(ParseEvents(Nested(64), BodyFormat::kNdjson).ok());
  IngestError e = ErrorOf(Nested(65));
  EXPECT_FALSE(e.field.has_value());
  // A pathological depth neither crashes nor passes, in either format.
  const std::string deep(100000, '[');
  EXPECT_FALSE(ParseEvents(deep, BodyFormat::kNdjson).ok());
  EXPECT_FALSE(ParseEvents(deep, BodyFormat::kJsonArray).ok());
  EXPECT_EQ(ErrorOf(absl::StrCat("[", Nested(65), "]"), BodyFormat::kJsonArray).line, 1);
}

TEST(IngestParserTest, HugeNumbers) {
  // Out of range for any JSON number type simdjson has: not valid JSON to us.
  for (absl::string_view n : {"1e400", "18446744073709551616", "-9223372036854775809",
                              "123456789012345678901234567890"}) {
    IngestError e = ErrorOf(Hit("x", absl::StrCat(R"(,"n":)", n)));
    EXPECT_FALSE(e.field.has_value()) << n;
  }
  IngestError e = ErrorOf(
      R"({"id":"x","company_id":18446744073709551616,"event_type":"hit","occurred_at":"2024-05-01T12:00:00Z"})");
  EXPECT_EQ(e.line, 1);
  // Within range: kept exactly as sent.
  IngestParseResult r =
      ParseEvents(Hit("x", R"(,"n":-9223372036854775808,"f":1.7976931348623157e308)"),
                  BodyFormat::kNdjson);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r.events[0].raw.find("-9223372036854775808"), std::string::npos);
}

// Events are validated where they lie in the body when enough readable bytes
// follow them, and copied into a padded buffer otherwise: the outcome is the
// same either way. A body in a heap block of exactly its size has ASan watch
// that nothing reads past it when no spare bytes were promised.
TEST(IngestParserTest, ParsesInPlaceOnlyWhereTheBodyIsPadded) {
  std::vector<std::string> events;
  for (int i = 0; i < 50; ++i) {
    events.push_back(Hit(absl::StrCat("e", i), absl::StrCat(R"(,"n":)", i, R"(,"s":")",
                                                             std::string(i * 3, 'x'), "\"")));
  }
  const std::string ndjson = absl::StrJoin(events, "\n");
  const std::string array = absl::StrCat("[", absl::StrJoin(events, ","), "]");
  for (const auto& [text, format] :
       {std::pair{ndjson, BodyFormat::kNdjson}, std::pair{array, BodyFormat::kJsonArray}}) {
    auto exact = std::make_unique<char[]>(text.size());
    std::memcpy(exact.get(), text.data(), text.size());
    std::string roomy = text;
    roomy.reserve(text.size() + 4096);
    std::vector<IngestParseResult> results;
    results.push_back(ParseEvents(std::string_view(exact.get(), text.size()), format));
    results.push_back(ParseEvents(roomy, format, {}, roomy.capacity() - roomy.size()));
    for (const IngestParseResult& r : results) {
      ASSERT_TRUE(r.ok()) << r.error->message;
      ASSERT_EQ(r.events.size(), events.size());
      for (size_t i = 0; i < events.size(); ++i) {
        EXPECT_EQ(r.events[i].raw, events[i]);
        EXPECT_EQ(r.events[i].id, absl::StrCat("e", i));
      }
    }
  }
  // An event cut short at the very end of the body: the bytes after it are
  // not part of it, whatever they hold.
  for (const std::string cut : {R"({"id":"x","company_id":7,"event_type":"hit","a":tru)",
                                R"({"id":"x","company_id":7,"event_type":"hit","a":12)"}) {
    const std::string text = absl::StrCat(Hit(), "\n", cut);
    auto exact = std::make_unique<char[]>(text.size());
    std::memcpy(exact.get(), text.data(), text.size());
    std::string body = text;
    body.reserve(body.size() + 256);
    body.append("e}\n");  // readable bytes after the body that would complete it
    std::vector<IngestParseResult> results;
    results.push_back(
        ParseEvents(std::string_view(exact.get(), text.size()), BodyFormat::kNdjson));
    results.push_back(ParseEvents(std::string_view(body.data(), text.size()),
                                  BodyFormat::kNdjson, {},
                                  body.capacity() - text.size()));
    for (const IngestParseResult& r : results) {
      ASSERT_FALSE(r.ok()) << cut;
      EXPECT_EQ(r.error->line, 2);
    }
  }
}

TEST(IngestParserTest, SizeLimits) {
  IngestError e = ErrorOf(Hit(std::string(257, 'i')));
  EXPECT_EQ(e.field, "id");
  EXPECT_TRUE(ParseEvents(Hit(std::string(256, 'i')), BodyFormat::kNdjson).ok());

  // The parser grows past its initial capacity for big events.
  const std::string large =
      Hit("x", absl::StrCat(R"(,"p":")", std::string(1000000, 'a'), "\""));
  IngestParseResult ok =
      ParseEvents(absl::StrCat(Hit(), "\n", large), BodyFormat::kNdjson);
  ASSERT_TRUE(ok.ok()) << ok.error->message;
  EXPECT_EQ(ok.events[1].raw, large);

  IngestLimits limits;
  limits.max_event_bytes = 200;
  const std::string big =
      Hit("x", absl::StrCat(R"(,"p":")", std::string(200, 'a'), "\""));
  e = ErrorOf(absl::StrCat(Hit(), "\n", big), BodyFormat::kNdjson, limits);
  EXPECT_EQ(e.line, 2);
  EXPECT_FALSE(e.field.has_value());
  EXPECT_NE(e.message.find("larger than 200 bytes"), std::string::npos);
  e = ErrorOf(absl::StrCat("[", Hit(), ",", big, "]"), BodyFormat::kJsonArray, limits);
  EXPECT_EQ(e.line, 2);
}

TEST(IngestParserTest, MalformedArraysNameTheElement) {
  struct Case {
    std::string body;
    int line;
  };
  const std::vector<Case> cases = {
      {absl::StrCat("[", Hit(), ",]"), 2},
      {absl::StrCat("[,", Hit(), "]"), 1},
      {absl::StrCat("[", Hit(), " ", Hit(), "]"), 1},
      {absl::StrCat("[", Hit(), ",", Hit(), ",{\"id\":}]"), 3},
      {absl::StrCat("[", Hit(), ",", Hit()), 2},
      {absl::StrCat("[", Hit(), "] trailing"), 2},
      {absl::StrCat("[", Hit(), ",{\"s\":\"unterminated}]"), 2},
      {absl::StrCat("[", Hit(), "}]"), 1},
      {"{}", 1},
      {"[", 1},
  };
  for (const Case& c : cases) {
    IngestError e = ErrorOf(c.body, BodyFormat::kJsonArray);
    EXPECT_EQ(e.line, c.line) << c.body << ": " << e.message;
    EXPECT_FALSE(e.field.has_value()) << c.body;
  }
}

TEST(IngestParserTest, FieldErrorsInArraysUseTheElementNumber) {
  IngestError e =
      ErrorOf(absl::StrCat("[", Hit(), ",\n\n", Hit("y", R"(,"sampled":null)"), "]"),
              BodyFormat::kJsonArray);
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.field, "sampled");
}

// Random bytes and random mutations of valid bodies: any answer is fine,
// as long as it is one (no crash, no hang, a line number on errors).
TEST(IngestParserTest, NeverCrashesOnGarbage) {
  std::mt19937 rng(12345);
  const std::string valid =
      absl::StrCat(Hit("a", R"(,"x":[1,{"y":"\u00e9\n"}])"), "\n", Hit("b"));
  constexpr char kAlphabet[] =
      "[]{}\",:\\ \n0123456789-+.eEtrufalsn\x00\xff\xc3\xa9"
      "abc";
  const std::string alphabet(kAlphabet, sizeof(kAlphabet) - 1);
  for (int i = 0; i < 3000; ++i) {
    std::string body;
    if (i % 2 == 0) {
      body = valid;
      for (int k = 0; k < 1 + i % 7; ++k)
        body[rng() % body.size()] = alphabet[rng() % alphabet.size()];
    } else {
      body.resize(rng() % 64);
      for (char& c : body) c = alphabet[rng() % alphabet.size()];
    }
    for (BodyFormat f : {BodyFormat::kNdjson, BodyFormat::kJsonArray}) {
      IngestParseResult r = ParseEvents(body, f);
      if (!r.ok()) {
        EXPECT_GE(r.error->line, 1);
      }
    }
  }
}

}  // namespace
}  // namespace outboxd
