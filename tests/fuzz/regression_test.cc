// Replays every saved fuzz input — the seed corpus and the regressions that
// tools/fuzz.sh saved from crashes — through the fuzz targets' checks, in a
// normal build, so a fixed crash stays fixed. Also a few hand-written hostile
// inputs (oversized fields, deep nesting, invalid UTF-8, huge numbers,
// duplicate keys, NUL bytes) whose expected verdicts are asserted.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "api/ingest_parser.h"
#include "api/integration_json.h"
#include "fuzz_targets.h"
#include "gtest/gtest.h"

namespace outboxd::fuzz {
namespace {

namespace fs = std::filesystem;

// A literal with its embedded NUL bytes kept.
template <size_t N>
std::string Bytes(const char (&text)[N]) {
  return std::string(text, N - 1);
}

std::vector<fs::path> FilesUnder(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().filename() != "README.md") {
      files.push_back(entry.path());
    }
  }
  return files;
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

const fs::path kFuzzDir = OUTBOXD_FUZZ_DIR;

TEST(FuzzRegressionTest, IngestInputsKeepTheContract) {
  size_t n = 0;
  for (const char* sub : {"corpus/ingest", "regressions/ingest"}) {
    for (const fs::path& file : FilesUnder(kFuzzDir / sub)) {
      auto bad = CheckIngestInput(ReadAll(file));
      EXPECT_FALSE(bad.has_value()) << file << ": " << bad.value_or("");
      ++n;
    }
  }
  EXPECT_GE(n, 5u) << "the ingest seed corpus is missing";
}

TEST(FuzzRegressionTest, IntegrationInputsKeepTheContract) {
  size_t n = 0;
  for (const char* sub : {"corpus/integration", "regressions/integration"}) {
    for (const fs::path& file : FilesUnder(kFuzzDir / sub)) {
      auto bad = CheckIntegrationInput(ReadAll(file));
      EXPECT_FALSE(bad.has_value()) << file << ": " << bad.value_or("");
      ++n;
    }
  }
  EXPECT_GE(n, 3u) << "the integration seed corpus is missing";
}

// The valid seeds are accepted: the checks above would pass on a parser
// that rejects everything, this would not.
TEST(FuzzRegressionTest, ValidSeedsAreAccepted) {
  const std::string body = ReadAll(kFuzzDir / "corpus/ingest/every_type.ndjson");
  IngestParseResult r = ParseEvents(body, BodyFormat::kNdjson);
  ASSERT_TRUE(r.ok()) << r.error->line << ": " << r.error->message;
  EXPECT_EQ(r.events.size(), 8u);
  r = ParseEvents(ReadAll(kFuzzDir / "corpus/ingest/array.json"), BodyFormat::kJsonArray);
  ASSERT_TRUE(r.ok()) << r.error->line << ": " << r.error->message;
  EXPECT_EQ(r.events.size(), 2u);
  for (const char* seed : {"sentinel.json", "dcr.json"}) {
    IntegrationParseResult c = ParseIntegration(
        ReadAll(kFuzzDir / "corpus/integration" / seed), nullptr, {.allow_endpoint_override = true});
    EXPECT_TRUE(c.ok()) << seed << ": " << c.error->field << ": " << c.error->message;
  }
}

IngestError RejectionOf(const std::string& body, BodyFormat format = BodyFormat::kNdjson) {
  IngestParseResult r = ParseEvents(body, format);
  EXPECT_FALSE(r.ok()) << body.substr(0, 200);
  EXPECT_EQ(CheckIngestInput(body), std::nullopt);
  return r.error.value_or(IngestError{});
}

constexpr char kHead[] =
    R"({"id":"e1","company_id":1,"event_type":"hit","occurred_at":"2024-05-01T10:00:00Z")";

TEST(FuzzRegressionTest, HostileIngestInputs) {
  const std::string head = kHead;
  // Oversized field: one event above the 1 MiB default.
  EXPECT_EQ(RejectionOf(head + ",\"blob\":\"" + std::string(1 << 20, 'a') + "\"}").line, 1);
  // Deep nesting, far above max_depth 64.
  EXPECT_EQ(RejectionOf(head + ",\"x\":" + std::string(5000, '[') + std::string(5000, ']') +
                        "}")
                .line,
            1);
  // Invalid UTF-8 in a string.
  EXPECT_EQ(RejectionOf(head + ",\"x\":\"\xff\xfe\"}").line, 1);
  // Huge number for company_id.
  IngestError e = RejectionOf(
      R"({"id":"e1","company_id":123456789012345678901234567890,"event_type":"hit","occurred_at":"2024-05-01T10:00:00Z"})");
  EXPECT_EQ(e.line, 1);
  // Duplicate key.
  e = RejectionOf(head + R"(,"id":"e2"})");
  EXPECT_EQ(e.field, "id");
  // NUL byte on the second line.
  e = RejectionOf(head + "}\n" + head + Bytes(",\"x\":\"a\0b\"}\n"));
  EXPECT_EQ(e.line, 2);
  e = RejectionOf(std::string("[") + head + "}," + head + ",\"n\":1e999999}]",
                  BodyFormat::kJsonArray);
  EXPECT_EQ(e.line, 2);
}

TEST(FuzzRegressionTest, HostileIntegrationInputs) {
  const std::string body =
      R"({"company_id":7,"name":"SOC","kind":"sentinel","workspace_id":"0b0f5c3e-6a0f-4f55-9a3c-2f1d2b3c4d5e","primary_key":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")";
  ASSERT_TRUE(ParseIntegration(body + "}", nullptr, {}).ok());
  for (const std::string& bad : {
           body + R"(,"name":"twice"})",                        // duplicate key
           body + R"(,"events":{"hits":)" + std::string(3000, '[') + "}}",  // deep nesting
           body + ",\"table\":\"T\xc3\x28\"}",                  // invalid UTF-8
           body + R"(,"company_id":1e400})",                    // huge number
           body + Bytes(",\"table\":\"a\0b\"}"),                  // NUL byte
       }) {
    EXPECT_FALSE(ParseIntegration(bad, nullptr, {}).ok()) << bad.substr(0, 300);
    EXPECT_EQ(CheckIntegrationInput(bad), std::nullopt);
  }
}

}  // namespace
}  // namespace outboxd::fuzz
