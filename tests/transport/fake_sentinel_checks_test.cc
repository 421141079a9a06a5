// fake_sentinel's pure parts: checks, faults, output lines, stats.
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "checks.h"
#include "faults.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "output.h"
#include "simdjson.h"
#include "stats.h"

namespace outboxd::fake_sentinel {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kWorkspace[] = "0b9c3c2e-54f5-4f2e-9a39-0d8d7a6f1c11";
// printf 'secret-key-1234567890' | base64
constexpr char kKey[] = "c2VjcmV0LWtleS0xMjM0NTY3ODkw";
// python3 -c "import email.utils; print(email.utils.formatdate(1700000000, usegmt=True))"
constexpr char kDate[] = "Tue, 14 Nov 2023 22:13:20 GMT";
constexpr TimeMs kDateMs = 1'700'000'000'000;
// printf 'POST\n17\napplication/json\nx-ms-date:Tue, 14 Nov 2023 22:13:20 GMT\n/api/logs'
// |
//   openssl dgst -sha256 -mac HMAC
//     -macopt hexkey:$(printf 'secret-key-1234567890' | xxd -p) -binary | base64
// (one command line)
constexpr char kSignature17[] = "lEUUR0ry5YyjfoHdIJ1puazB6SOW1fU2RuOPU5T0NqA=";

TEST(Base64Test, KnownAnswers) {
  // printf '\x00\xff\xfe' | base64 ; printf 'ab' | base64 ; printf 'a' | base64
  EXPECT_EQ(Base64Encode(std::string("\x00\xff\xfe", 3)), "AP/+");
  EXPECT_EQ(Base64Encode("ab"), "YWI=");
  EXPECT_EQ(Base64Encode("a"), "YQ==");
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Decode("AP/+"), std::string("\x00\xff\xfe", 3));
  EXPECT_EQ(Base64Decode("YWI="), "ab");
  EXPECT_EQ(Base64Decode("YQ=="), "a");
  EXPECT_EQ(Base64Decode(kKey), "secret-key-1234567890");
}

TEST(Base64Test, RejectsNonCanonicalInput) {
  EXPECT_FALSE(Base64Decode("YQ="));       // length
  EXPECT_FALSE(Base64Decode("Y===="));     // length
  EXPECT_FALSE(Base64Decode("YR=="));      // bits set in the padding
  EXPECT_FALSE(Base64Decode("Y=Q="));      // padding in the middle
  EXPECT_FALSE(Base64Decode("YQ==YQ=="));  // padding before the end
  EXPECT_FALSE(Base64Decode("YW I"));      // outside the alphabet
}

TEST(SignatureTest, MatchesOpensslHmac) {
  EXPECT_EQ(SharedKeySignature("secret-key-1234567890", 17, kDate), kSignature17);
  // Same, content length 0 (command above with "POST\n0\n...").
  EXPECT_EQ(SharedKeySignature("secret-key-1234567890", 0, kDate),
            "ra14XEXPaDqMEAuQWJ6oLNywD7XIFcGnx5WLQOouy8E=");
}

TEST(DateTest, FormatsAndParsesRfc1123) {
  EXPECT_EQ(FormatRfc1123(kDateMs + 999), kDate);
  EXPECT_EQ(ParseRfc1123(kDate), kDateMs);
  // python3 -c "import email.utils; print(email.utils.formatdate(951782400,
  // usegmt=True))"
  EXPECT_EQ(ParseRfc1123("Tue, 29 Feb 2000 00:00:00 GMT"), 951'782'400'000);
  EXPECT_EQ(FormatRfc1123(951'782'400'000), "Tue, 29 Feb 2000 00:00:00 GMT");
  EXPECT_FALSE(ParseRfc1123("Wed, 14 Nov 2023 22:13:20 GMT"));  // wrong weekday
  EXPECT_FALSE(ParseRfc1123("Tue, 14 Nov 2023 22:13:20 UTC"));
  EXPECT_FALSE(ParseRfc1123("2023-11-14T22:13:20Z"));
  EXPECT_FALSE(ParseRfc1123("Tue, 14 Foo 2023 22:13:20 GMT"));
}

TEST(FormatTest, GuidsLogTypesQueries) {
  EXPECT_TRUE(IsGuid(kWorkspace));
  EXPECT_TRUE(IsGuid("0B9C3C2E-54F5-4F2E-9A39-0D8D7A6F1C11"));
  EXPECT_FALSE(IsGuid("0b9c3c2e54f54f2e9a390d8d7a6f1c11"));
  EXPECT_FALSE(IsGuid("0b9c3c2e-54f5-4f2e-9a39-0d8d7a6f1c1g"));
  EXPECT_TRUE(IsValidLogType("new_hits"));
  EXPECT_TRUE(IsValidLogType(std::string(100, 'a')));
  EXPECT_FALSE(IsValidLogType(std::string(101, 'a')));
  EXPECT_FALSE(IsValidLogType(""));
  EXPECT_FALSE(IsValidLogType("new-hits"));
  EXPECT_EQ(QueryParam("/api/logs?a=1&api-version=2016-04-01", "api-version"),
            "2016-04-01");
  EXPECT_EQ(QueryParam("/api/logs?api-version", "api-version"), "");
  EXPECT_FALSE(QueryParam("/api/logs", "api-version"));
  EXPECT_EQ(TargetPath("/api/logs?x=1"), "/api/logs");
  EXPECT_EQ(JsonQuote("a\"b\\c\n\x01"), R"("a\"b\\c\n\u0001")");
  EXPECT_EQ(ErrorBody("Code", "it \"failed\""),
            R"({"Error":"Code","Message":"it \"failed\""})");
}

class CheckLogsRequestTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(keys_.Add(kWorkspace, kKey).ok()); }

  // A correctly signed request for `body_` at kDate.
  LogsRequest Good() {
    auth_ = std::string("SharedKey ") + kWorkspace + ":" +
            SharedKeySignature("secret-key-1234567890", body_.size(), kDate);
    LogsRequest r;
    r.method = "POST";
    r.target = "/api/logs?api-version=2016-04-01";
    r.host = "127.0.0.1:8080";
    r.authorization = auth_;
    r.date = kDate;
    r.content_type = "application/json";
    r.log_type = "create_user";
    r.body = body_;
    return r;
  }

  Verdict Check(const LogsRequest& r, TimeMs now = kDateMs) {
    return CheckLogsRequest(r, keys_, now);
  }

  WorkspaceKeys keys_;
  std::string body_ = R"([{"id":"e1", "n": 1}, {"id":"e2"}])";
  std::string auth_;
};

TEST_F(CheckLogsRequestTest, AcceptsASignedRequest) {
  Verdict v = Check(Good());
  EXPECT_TRUE(v.ok()) << v.error << ": " << v.message;
  EXPECT_EQ(v.workspace, kWorkspace);
  EXPECT_EQ(v.log_type, "create_user");
  EXPECT_THAT(v.records, ElementsAre(R"({"id":"e1","n":1})", R"({"id":"e2"})"));
  EXPECT_EQ(v.Body(), "");
}

TEST_F(CheckLogsRequestTest, AcceptsContentTypeParametersAndHostOfTheWorkspace) {
  LogsRequest r = Good();
  r.content_type = "Application/JSON; charset=utf-8";
  const std::string host = std::string(kWorkspace) + ".ods.opinsights.azure.com";
  r.host = host;
  EXPECT_TRUE(Check(r).ok());
  EXPECT_TRUE(Check(r, kDateMs + kMaxClockSkewMs).ok());
  EXPECT_TRUE(Check(r, kDateMs - kMaxClockSkewMs).ok());
}

struct Case {
  const char* name;
  std::function<void(LogsRequest&, std::string&)> mutate;
  int status;
  const char* error;
};

TEST_F(CheckLogsRequestTest, RejectsLikeAzure) {
  std::string scratch;
  const std::vector<Case> cases = {
      {"method", [](LogsRequest& r, std::string&) { r.method = "PUT"; }, 405,
       "MethodNotAllowed"},
      {"no api-version", [](LogsRequest& r, std::string&) { r.target = "/api/logs"; },
       400, "MissingApiVersion"},
      {"api-version",
       [](LogsRequest& r, std::string&) {
         r.target = "/api/logs?api-version=2023-01-01";
       },
       400, "InvalidApiVersion"},
      {"no auth", [](LogsRequest& r, std::string&) { r.authorization = ""; }, 403,
       "InvalidAuthorization"},
      {"bearer", [](LogsRequest& r, std::string&) { r.authorization = "Bearer x"; }, 403,
       "InvalidAuthorization"},
      {"unknown workspace",
       [](LogsRequest& r, std::string& s) {
         s = "SharedKey 11111111-2222-3333-4444-555555555555:" +
             SharedKeySignature("secret-key-1234567890", 0, kDate);
         r.authorization = s;
       },
       403, "InvalidAuthorization"},
      {"host of another workspace",
       [](LogsRequest& r, std::string&) {
         r.host = "11111111-2222-3333-4444-555555555555.ods.opinsights.azure.com";
       },
       403, "InvalidAuthorization"},
      {"no date", [](LogsRequest& r, std::string&) { r.date = ""; }, 403,
       "InvalidAuthorization"},
      {"bad date", [](LogsRequest& r, std::string&) { r.date = "yesterday"; }, 403,
       "InvalidAuthorization"},
      {"wrong signature",
       [](LogsRequest& r, std::string& s) {
         s = std::string(r.authorization);
         s.back() = s.back() == 'A' ? 'B' : 'A';
         r.authorization = s;
       },
       403, "InvalidAuthorization"},
      {"body changed after signing",
       [](LogsRequest& r, std::string&) { r.body = R"([{"id":"e9"}])"; }, 403,
       "InvalidAuthorization"},
      {"content type",
       [](LogsRequest& r, std::string&) { r.content_type = "text/plain"; }, 400,
       "InvalidContentType"},
      {"no log type", [](LogsRequest& r, std::string&) { r.log_type = ""; }, 400,
       "MissingLogType"},
      {"bad log type", [](LogsRequest& r, std::string&) { r.log_type = "a-b"; }, 400,
       "InvalidLogType"},
  };
  for (const Case& c : cases) {
    LogsRequest r = Good();
    c.mutate(r, scratch);
    Verdict v = Check(r);
    EXPECT_EQ(v.status, c.status) << c.name;
    EXPECT_EQ(v.error, c.error) << c.name;
    EXPECT_THAT(v.Body(), HasSubstr(std::string(R"("Error":")") + c.error)) << c.name;
    EXPECT_TRUE(v.records.empty()) << c.name;
  }
}

TEST_F(CheckLogsRequestTest, RejectsStaleOrFutureDates) {
  EXPECT_EQ(Check(Good(), kDateMs + kMaxClockSkewMs + 1000).error,
            "InvalidAuthorization");
  EXPECT_EQ(Check(Good(), kDateMs - kMaxClockSkewMs - 1000).error,
            "InvalidAuthorization");
}

TEST_F(CheckLogsRequestTest, RejectsBodiesThatAreNotArraysOfObjects) {
  for (const char* body : {"[{", R"({"id":"e1"})", R"([{"id":1}, 2])", "", "[[]]"}) {
    body_ = body;
    Verdict v = Check(Good());
    EXPECT_EQ(v.status, 400) << body;
    EXPECT_EQ(v.error, "InvalidDataFormat") << body;
  }
  body_ = "[]";
  EXPECT_TRUE(Check(Good()).ok());
}

TEST_F(CheckLogsRequestTest, OneRejectRecordFailsTheWholeRequest) {
  body_ = R"([{"id":"a"},{"id":"b","reject":true},{"id":"c"}])";
  Verdict v = Check(Good());
  EXPECT_EQ(v.status, 400);
  EXPECT_EQ(v.error, "InvalidDataFormat");
  EXPECT_THAT(v.message, HasSubstr("record 1"));
  body_ = R"([{"id":"a","reject":false}])";
  EXPECT_TRUE(Check(Good()).ok());
}

TEST(WorkspaceKeysTest, LinesAnyWorkspaceAndCase) {
  WorkspaceKeys keys;
  EXPECT_TRUE(
      keys.AddLines("# comment\n\nAAAAAAAA-0000-0000-0000-000000000001 YWI=\n").ok());
  ASSERT_NE(keys.KeyFor("aaaaaaaa-0000-0000-0000-000000000001"), nullptr);
  EXPECT_EQ(*keys.KeyFor("aaaaaaaa-0000-0000-0000-000000000001"), "ab");
  EXPECT_EQ(keys.KeyFor(kWorkspace), nullptr);
  EXPECT_TRUE(keys.SetAnyWorkspaceKey("YQ==").ok());
  ASSERT_NE(keys.KeyFor(kWorkspace), nullptr);
  EXPECT_EQ(*keys.KeyFor(kWorkspace), "a");
  EXPECT_EQ(keys.KeyFor("not-a-guid"), nullptr);
  EXPECT_FALSE(keys.AddLines("only-one-field\n").ok());
  EXPECT_FALSE(keys.Add("w", "not base64!").ok());
  EXPECT_FALSE(keys.Add("", "YQ==").ok());
}

TEST(FaultsTest, DecideFollowsRatesAndWindow) {
  FaultConfig config;
  auto always = [] { return 0.0; };
  auto never = [] { return 0.999; };
  EXPECT_EQ(DecideFault(config, 0, always), FaultKind::kNone);
  config.store_then_fail_rate = 0.5;
  EXPECT_EQ(DecideFault(config, 0, always), FaultKind::kStoreThenFail);
  EXPECT_EQ(DecideFault(config, 0, never), FaultKind::kNone);
  config.fail_rate = 0.5;
  EXPECT_EQ(DecideFault(config, 0, always), FaultKind::kFail);
  config.timeout_rate = 0.5;
  EXPECT_EQ(DecideFault(config, 0, always), FaultKind::kTimeout);
  config.reset_rate = 0.5;
  EXPECT_EQ(DecideFault(config, 0, always), FaultKind::kReset);

  FaultConfig window;
  ASSERT_TRUE(ParseFailWindow("100:200", &window).ok());
  EXPECT_EQ(DecideFault(window, 99, never), FaultKind::kNone);
  EXPECT_EQ(DecideFault(window, 100, never), FaultKind::kFail);
  EXPECT_EQ(DecideFault(window, 199, never), FaultKind::kFail);
  EXPECT_EQ(DecideFault(window, 200, never), FaultKind::kNone);
  EXPECT_FALSE(ParseFailWindow("200:100", &window).ok());
  EXPECT_FALSE(ParseFailWindow("abc", &window).ok());
}

TEST(FaultsTest, ControlAppliesAllOrNothing) {
  FaultConfig config;
  ASSERT_TRUE(ApplyControl(R"({"fail_rate":0.25,"fail_status":429,"retry_after":9,
      "fail_window":"5:10","latency_ms":40,"timeout_rate":0,"reset_rate":1,
      "store_then_fail_rate":0.5,"gate":3,"timeout_close_ms":100})",
                           &config)
                  .ok());
  EXPECT_EQ(config.fail_rate, 0.25);
  EXPECT_EQ(config.fail_status, 429);
  EXPECT_EQ(config.retry_after_s, 9);
  EXPECT_EQ(config.fail_window_start_ms, 5);
  EXPECT_EQ(config.fail_window_end_ms, 10);
  EXPECT_EQ(config.latency_ms, 40);
  EXPECT_EQ(config.reset_rate, 1.0);
  EXPECT_EQ(config.store_then_fail_rate, 0.5);
  EXPECT_EQ(config.gate, 3u);
  EXPECT_EQ(config.timeout_close_ms, 100);
  EXPECT_EQ(FaultConfigJson(config),
            R"({"fail_rate":0.25,"fail_status":429,"retry_after":9,"fail_window":"5:10",)"
            R"("latency_ms":40,"timeout_rate":0,"timeout_close_ms":100,"reset_rate":1,)"
            R"("store_then_fail_rate":0.5,"gate":3})");

  const FaultConfig before = config;
  EXPECT_FALSE(ApplyControl(R"({"latency_ms":1,"fail_rate":7})", &config).ok());
  EXPECT_FALSE(ApplyControl(R"({"no_such_field":1})", &config).ok());
  EXPECT_FALSE(ApplyControl("[1]", &config).ok());
  EXPECT_EQ(config.latency_ms, before.latency_ms);

  ASSERT_TRUE(
      ApplyControl(R"({"clear":true,"latency_ms":7,"retry_after":null})", &config).ok());
  EXPECT_EQ(config.fail_rate, 0);
  EXPECT_EQ(config.fail_window_start_ms, -1);
  EXPECT_EQ(config.retry_after_s, -1);
  EXPECT_EQ(config.latency_ms, 7);
}

TEST(GateTest, ReleasesAGroupAtTheThreshold) {
  Gate gate;
  std::vector<int> ran;
  gate.Enter([&] { ran.push_back(0); });  // off: runs at once
  EXPECT_THAT(ran, ElementsAre(0));
  gate.SetThreshold(3);
  gate.Enter([&] { ran.push_back(1); });
  gate.Enter([&] { ran.push_back(2); });
  EXPECT_THAT(ran, ElementsAre(0));
  gate.Enter([&] { ran.push_back(3); });
  EXPECT_THAT(ran, ElementsAre(0, 1, 2, 3));
  gate.Enter([&] { ran.push_back(4); });
  EXPECT_EQ(ran.size(), 4u);
  gate.SetThreshold(0);  // turning it off releases the waiters
  EXPECT_THAT(ran, ElementsAre(0, 1, 2, 3, 4));
}

TEST(SplitJsonArrayTest, DropsWhitespaceBetweenTokensAndKeepsStringsWhole) {
  std::vector<std::string> out;
  const std::string text = std::string(R"( [ {"a" : "x, ]}" ,)") + "\n" +
                           R"("b":[1 , {"c":null}]})" + "\t" +
                           R"(, 42 ,"s \" ,",true,[ ] ,{ } ])" + "\n";
  ASSERT_TRUE(SplitJsonArray(text, &out));
  EXPECT_THAT(out, ElementsAre(R"({"a":"x, ]}","b":[1,{"c":null}]})", "42", R"("s \" ,")",
                               "true", "[]", "{}"));
}

TEST(SplitJsonArrayTest, EscapedBackslashesBeforeAQuote) {
  std::vector<std::string> out;
  // "a\\" ends at its third quote; "b\\\" ]" holds an escaped quote.
  ASSERT_TRUE(SplitJsonArray(R"([ "a\\" , "b\\\" ]" , {"k":"\\\\"} ])", &out));
  EXPECT_THAT(out, ElementsAre(R"("a\\")", R"("b\\\" ]")", R"({"k":"\\\\"})"));
}

TEST(SplitJsonArrayTest, EmptyArrayAndNonArrays) {
  std::vector<std::string> out;
  EXPECT_TRUE(SplitJsonArray(" [ ] ", &out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(SplitJsonArray(R"({"a":1})", &out));
  EXPECT_FALSE(SplitJsonArray("", &out));
  EXPECT_FALSE(SplitJsonArray(R"(["unterminated)", &out));
  EXPECT_FALSE(SplitJsonArray(R"([1,2)", &out));
}

// Random documents with random whitespace split into exactly the elements
// they were built from.
class RandomJson {
 public:
  explicit RandomJson(uint32_t seed) : rng_(seed) {}

  // A value's compact text, and in `spaced` the same with whitespace added.
  void Value(int depth, std::string* compact, std::string* spaced) {
    switch (Pick(depth < 3 ? 5 : 3)) {
      case 0:
        Token(std::to_string(Pick(100000)), compact, spaced);
        break;
      case 1:
        Token(Pick(2) ? "true" : "null", compact, spaced);
        break;
      case 2:
        Token(String(), compact, spaced);
        break;
      case 3: {
        Token("{", compact, spaced);
        const int n = Pick(4);
        for (int i = 0; i < n; ++i) {
          if (i > 0) Token(",", compact, spaced);
          Token(String(), compact, spaced);
          Token(":", compact, spaced);
          Value(depth + 1, compact, spaced);
        }
        Token("}", compact, spaced);
        break;
      }
      default: {
        Token("[", compact, spaced);
        const int n = Pick(4);
        for (int i = 0; i < n; ++i) {
          if (i > 0) Token(",", compact, spaced);
          Value(depth + 1, compact, spaced);
        }
        Token("]", compact, spaced);
      }
    }
  }

  void Token(const std::string& token, std::string* compact, std::string* spaced) {
    static constexpr char kSpace[] = {' ', '\t', '\n', '\r'};
    while (Pick(3) == 0) *spaced += kSpace[Pick(4)];
    *compact += token;
    *spaced += token;
  }

  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

 private:
  // Strings full of the bytes a splitter could trip on.
  std::string String() {
    static const std::vector<std::string> kPieces = {
        "a", " ", ",", "]", "[", "}", "{", ":", R"(\")", R"(\\)", R"(\n)", R"(\u0041)"};
    std::string s = "\"";
    const int n = Pick(6);
    for (int i = 0; i < n; ++i) s += kPieces[Pick(static_cast<int>(kPieces.size()))];
    return s + "\"";
  }

  std::mt19937 rng_;
};

TEST(SplitJsonArrayTest, RandomDocuments) {
  RandomJson gen(20261129);
  for (int doc = 0; doc < 2000; ++doc) {
    std::vector<std::string> expected;
    std::string compact, spaced;
    gen.Token("[", &compact, &spaced);
    const int n = gen.Pick(5);
    for (int i = 0; i < n; ++i) {
      if (i > 0) gen.Token(",", &compact, &spaced);
      std::string element;
      gen.Value(0, &element, &spaced);
      expected.push_back(element);
    }
    gen.Token("]", &compact, &spaced);
    std::vector<std::string> out;
    ASSERT_TRUE(SplitJsonArray(spaced, &out)) << spaced;
    ASSERT_EQ(out, expected) << spaced;
  }
}

TEST(SplitJsonArrayTest, KeepsEscapesAsSent) {
  // The split keeps escapes byte for byte (a DOM re-serialization would turn
  // \u0041 into A): the out file holds what reached the SIEM.
  std::vector<std::string> out;
  ASSERT_TRUE(SplitJsonArray(R"([{"s": "\u0041\/"}])", &out));
  EXPECT_THAT(out, ElementsAre(R"({"s":"\u0041\/"})"));
}

TEST(OutputTest, AppendWritesOneLinePerRecord) {
  const std::string path = ::testing::TempDir() + "/fake_sentinel_output_test.ndjson";
  std::remove(path.c_str());
  {
    absl::StatusOr<std::unique_ptr<RecordWriter>> writer = RecordWriter::Open(path);
    ASSERT_TRUE(writer.ok()) << writer.status();
    (*writer)->Append("new_hits", kWorkspace, 17, {R"({"id":"e1"})", R"({"id":"e2"})"});
    (*writer)->Append("audit", kWorkspace, 18, {R"({"id":"e3"})"});
    ASSERT_TRUE((*writer)->Flush().ok());
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), RecordLine("new_hits", kWorkspace, 17, R"({"id":"e1"})") +
                            RecordLine("new_hits", kWorkspace, 17, R"({"id":"e2"})") +
                            RecordLine("audit", kWorkspace, 18, R"({"id":"e3"})"));
  std::remove(path.c_str());
}

TEST(RecordsToKeepTest, IdsAreTheTopLevelIdOfEachRecord) {
  const std::string text =
      R"([{"id":"e1","a":1}, {"id":"e\"1\\"}, {"a":{"id":"inner"},"id":"e2"},)"
      R"( {"a":1,"id":17}, {"a":{"id":"inner"}}, {"id":{"k" : [1, 2]}}])";
  simdjson::dom::parser parser;
  simdjson::dom::array array;
  ASSERT_EQ(parser.parse(text).get_array().get(array), simdjson::SUCCESS);
  EXPECT_THAT(
      RecordsToKeep(text, array, OutFormat::kIds),
      ElementsAre(R"("e1")", R"("e\"1\\")", R"("e2")", "17", "null", R"({"k":[1,2]})"));
  EXPECT_THAT(RecordsToKeep(text, array, OutFormat::kRecords),
              ElementsAre(R"({"id":"e1","a":1})", R"({"id":"e\"1\\"})",
                          R"({"a":{"id":"inner"},"id":"e2"})", R"({"a":1,"id":17})",
                          R"({"a":{"id":"inner"}})", R"({"id":{"k":[1,2]}})"));
}

TEST_F(CheckLogsRequestTest, KeepsIdsWhenAsked) {
  Verdict v = CheckLogsRequest(Good(), keys_, kDateMs, OutFormat::kIds);
  EXPECT_TRUE(v.ok()) << v.error << ": " << v.message;
  EXPECT_THAT(v.records, ElementsAre(R"("e1")", R"("e2")"));
}

TEST(OutputTest, IdsFormatWritesOneIdLinePerRecord) {
  const std::string path = ::testing::TempDir() + "/fake_sentinel_ids_test.ndjson";
  std::remove(path.c_str());
  {
    absl::StatusOr<std::unique_ptr<RecordWriter>> writer =
        RecordWriter::Open(path, OutFormat::kIds);
    ASSERT_TRUE(writer.ok()) << writer.status();
    (*writer)->Append("new_hits", kWorkspace, 17, {R"("e1")", "null"});
    ASSERT_TRUE((*writer)->Flush().ok());
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string head = std::string(R"({"log_type":"new_hits","workspace":")") +
                           kWorkspace + R"(","received_at_ms":17,)";
  EXPECT_EQ(text.str(), head + R"("id":"e1"})" + "\n" + head + R"("id":null})" + "\n");
  std::remove(path.c_str());
}

TEST(OutputTest, RecordLineIsOneJsonLine) {
  EXPECT_EQ(RecordLine("new_hits", kWorkspace, 1700000000123, R"({"id":"e1"})"),
            std::string(R"({"log_type":"new_hits","workspace":")") + kWorkspace +
                R"(","received_at_ms":1700000000123,"record":{"id":"e1"}})" + "\n");
}

TEST(StatsTest, CountsAndPeaks) {
  Stats stats;
  stats.ConnectionOpened();
  stats.RequestStarted();
  stats.RequestStarted();
  stats.RequestFinished(200);
  stats.RecordsAccepted(5);
  stats.RequestFinished(0);
  stats.RequestStarted();
  stats.RequestFinished(503);
  stats.Reset();
  EXPECT_EQ(stats.Json(),
            R"({"requests":3,"accepted_requests":1,"accepted_records":5,)"
            R"("by_status":{"200":1,"503":1},"in_flight":0,"peak_in_flight":2,)"
            R"("connections":1,"open_connections":1,"resets":1,"timeouts":0})");
}

}  // namespace
}  // namespace outboxd::fake_sentinel
