#include "sender.h"

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "outboxd/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace outboxd::ctl {
namespace {

using ::testing::UnorderedElementsAreArray;

// An in-memory FILE* over `text`, closed with the object.
class MemFile {
 public:
  explicit MemFile(std::string text) : text_(std::move(text)) {
    file_ = fmemopen(text_.data(), text_.size(), "r");
  }
  ~MemFile() { std::fclose(file_); }
  std::FILE* get() { return file_; }

 private:
  std::string text_;
  std::FILE* file_;
};

// The API's answers, decided per request body; every body is recorded.
class FakeApi {
 public:
  using Answer =
      std::function<absl::StatusOr<HttpResult>(const std::string& body, int call)>;
  explicit FakeApi(Answer answer) : answer_(std::move(answer)) {}

  PosterFactory Factory() {
    return [this] { return std::make_unique<Poster>(this); };
  }
  std::vector<std::string> bodies() {
    MutexLock lock(&mu_);
    return bodies_;
  }
  int posters() {
    MutexLock lock(&mu_);
    return posters_;
  }

 private:
  class Poster final : public ChunkPoster {
   public:
    explicit Poster(FakeApi* api) : api_(api) {
      MutexLock lock(&api_->mu_);
      ++api_->posters_;
    }
    absl::StatusOr<HttpResult> Post(const std::string& body) override {
      int call = 0;
      {
        MutexLock lock(&api_->mu_);
        api_->bodies_.push_back(body);
        call = static_cast<int>(api_->bodies_.size());
      }
      return api_->answer_(body, call);
    }

   private:
    FakeApi* api_;
  };

  Answer answer_;
  Mutex mu_;
  std::vector<std::string> bodies_ ABSL_GUARDED_BY(mu_);
  int posters_ ABSL_GUARDED_BY(mu_) = 0;
};

// 202 with accepted = the body's lines, two deliveries each.
absl::StatusOr<HttpResult> AcceptAll(const std::string& body) {
  const size_t lines = std::count(body.begin(), body.end(), '\n');
  return HttpResult{
      202, absl::StrCat("{\"accepted\":", lines, ",\"deliveries\":", 2 * lines, "}"),
      std::nullopt};
}

std::string Events(int n) {
  std::string text;
  for (int i = 1; i <= n; ++i) absl::StrAppend(&text, "{\"id\":\"e", i, "\"}\n");
  return text;
}

SendOptions Options(size_t lines, size_t connections) {
  SendOptions o;
  o.limits.max_lines = lines;
  o.connections = connections;
  o.default_retry_ms = 1;
  return o;
}

TEST(SenderTest, PostsEveryLineOnceOverSeveralConnections) {
  FakeApi api([](const std::string& body, int) { return AcceptAll(body); });
  FakeClock clock;
  std::vector<uint64_t> progress;
  Sender sender(Options(7, 4), api.Factory(), &clock,
                [&](const SendProgress& p) { progress.push_back(p.events_sent); });
  MemFile in(Events(100));
  const SendSummary s = sender.Run(in.get(), 100);
  EXPECT_FALSE(s.error.has_value()) << *s.error;
  EXPECT_EQ(s.accepted, 100u);
  EXPECT_EQ(s.deliveries, 200u);
  EXPECT_EQ(s.requests, 15u);  // ceil(100 / 7)
  EXPECT_EQ(api.posters(), 4);
  std::vector<std::string> lines;
  for (const std::string& body : api.bodies()) {
    for (absl::string_view l : absl::StrSplit(body, '\n', absl::SkipEmpty()))
      lines.emplace_back(l);
  }
  std::vector<std::string> want;
  for (absl::string_view l : absl::StrSplit(Events(100), '\n', absl::SkipEmpty()))
    want.emplace_back(l);
  EXPECT_THAT(lines, UnorderedElementsAreArray(want));
  ASSERT_EQ(progress.size(), 15u);
  EXPECT_EQ(progress.back(), 100u);
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
}

TEST(SenderTest, BadLineIsReportedWithItsFileLine) {
  // The chunk starting at file line 11 has a bad event on its 3rd line.
  FakeApi api([](const std::string& body, int) -> absl::StatusOr<HttpResult> {
    if (body.find("\"e13\"") != std::string::npos) {
      return HttpResult{400, R"({"error":"is required","line":3,"field":"company_id"})",
                        std::nullopt};
    }
    return AcceptAll(body);
  });
  FakeClock clock;
  Sender sender(Options(5, 1), api.Factory(), &clock);
  MemFile in(Events(30));
  const SendSummary s = sender.Run(in.get(), 30);
  ASSERT_TRUE(s.error.has_value());
  EXPECT_EQ(*s.error, "line 13: is required (field: company_id)");
  EXPECT_EQ(s.line, 13u);
  EXPECT_FALSE(s.no_answer);
  // One connection, in order: lines 1-10 went before it, nothing after.
  EXPECT_EQ(s.accepted, 10u);
  EXPECT_EQ(api.bodies().size(), 3u);
}

TEST(SenderTest, EarliestFailureWinsAcrossConnections) {
  FakeApi api([](const std::string& body, int) -> absl::StatusOr<HttpResult> {
    if (body.find("\"e1\"") != std::string::npos ||
        body.find("\"e4\"") != std::string::npos) {
      return HttpResult{400, R"({"error":"bad","line":1,"field":null})", std::nullopt};
    }
    return AcceptAll(body);
  });
  FakeClock clock;
  // Both chunks of 3 lines are posted by two connections: whichever answers
  // first, line 1 is reported.
  for (int round = 0; round < 20; ++round) {
    Sender sender(Options(3, 2), api.Factory(), &clock);
    MemFile in(Events(6));
    const SendSummary s = sender.Run(in.get(), 6);
    ASSERT_EQ(s.line, std::optional<uint64_t>(1));
    EXPECT_EQ(*s.error, "line 1: bad");
  }
}

TEST(SenderTest, RetriesBusyAnswersThenSucceeds) {
  FakeApi api([](const std::string& body, int call) -> absl::StatusOr<HttpResult> {
    if (call <= 2) return HttpResult{503, R"({"error":"busy","retry_after_s":0})", 0};
    return AcceptAll(body);
  });
  FakeClock clock;
  Sender sender(Options(100, 1), api.Factory(), &clock);
  MemFile in(Events(5));
  const SendSummary s = sender.Run(in.get(), 5);
  EXPECT_FALSE(s.error.has_value());
  EXPECT_EQ(s.accepted, 5u);
  EXPECT_EQ(s.retries, 2u);
  const std::vector<std::string> bodies = api.bodies();
  ASSERT_EQ(bodies.size(), 3u);
  EXPECT_EQ(bodies[0], bodies[2]);  // the same chunk again
}

TEST(SenderTest, GivesUpAfterMaxRetries) {
  FakeApi api([](const std::string&, int) -> absl::StatusOr<HttpResult> {
    return HttpResult{429, R"({"error":"slow down"})", std::nullopt};
  });
  FakeClock clock;
  SendOptions options = Options(100, 1);
  options.max_retries = 3;
  Sender sender(options, api.Factory(), &clock);
  MemFile in(Events(2));
  const SendSummary s = sender.Run(in.get(), 2);
  ASSERT_TRUE(s.error.has_value());
  EXPECT_EQ(*s.error, "gave up after 3 retries: HTTP 429: slow down");
  EXPECT_EQ(api.bodies().size(), 4u);
  EXPECT_EQ(s.accepted, 0u);
}

TEST(SenderTest, OtherErrorsAndLostConnectionsStop) {
  FakeApi unauthorized([](const std::string&, int) -> absl::StatusOr<HttpResult> {
    return HttpResult{401, R"({"error":"missing or invalid bearer token"})",
                      std::nullopt};
  });
  FakeClock clock;
  MemFile in(Events(3));
  SendSummary s = Sender(Options(1, 1), unauthorized.Factory(), &clock).Run(in.get(), 3);
  EXPECT_EQ(s.error, "HTTP 401: missing or invalid bearer token");
  EXPECT_EQ(unauthorized.bodies().size(), 1u);

  FakeApi down([](const std::string&, int) -> absl::StatusOr<HttpResult> {
    return absl::UnavailableError("cannot reach outboxd at http://127.0.0.1:1: refused");
  });
  MemFile again(Events(3));
  s = Sender(Options(1, 2), down.Factory(), &clock).Run(again.get(), 3);
  EXPECT_TRUE(s.no_answer);
  EXPECT_EQ(s.error, "cannot reach outboxd at http://127.0.0.1:1: refused");
}

TEST(SenderTest, CountEventsSkipsBlankLinesAndRewinds) {
  MemFile in("{\"a\":1}\n\n  \n{\"a\":2}\n{\"a\":3}");
  EXPECT_EQ(CountEvents(in.get()), std::optional<uint64_t>(3));
  char first = 0;
  ASSERT_EQ(std::fread(&first, 1, 1, in.get()), 1u);
  EXPECT_EQ(first, '{');
}

}  // namespace
}  // namespace outboxd::ctl
