#include "args.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace outboxd::ctl {
namespace {

TEST(ParseArgsTest, ValuesSwitchesAndPositionals) {
  const FlagSpec spec{{"limit", "seq"}, {"json"}};
  absl::StatusOr<ParsedArgs> args =
      ParseArgs({"7", "--limit", "5", "--json", "--seq=3", "--seq", "9", "-"}, spec);
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->positional, (std::vector<std::string>{"7", "-"}));
  EXPECT_EQ(args->Value("limit"), "5");
  EXPECT_EQ(args->values.at("seq"), (std::vector<std::string>{"3", "9"}));
  EXPECT_TRUE(args->Has("json"));
  EXPECT_FALSE(args->Has("other"));
}

TEST(ParseArgsTest, DoubleDashEndsFlags) {
  absl::StatusOr<ParsedArgs> args = ParseArgs({"--", "--json"}, {{}, {"json"}});
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->positional, (std::vector<std::string>{"--json"}));
  EXPECT_FALSE(args->Has("json"));
}

TEST(ParseArgsTest, RejectsUnknownAndIncompleteFlags) {
  EXPECT_EQ(ParseArgs({"--limt", "3"}, {{"limit"}, {}}).status().message(),
            "unknown option --limt");
  EXPECT_EQ(ParseArgs({"--limit"}, {{"limit"}, {}}).status().message(),
            "--limit needs a value");
  EXPECT_FALSE(ParseArgs({"--json=yes"}, {{}, {"json"}}).ok());
}

TEST(ParseArgsTest, NumberChecksRange) {
  absl::StatusOr<ParsedArgs> args =
      ParseArgs({"--n", "0", "--m", "12", "--k", "x"}, {{"n", "m", "k"}, {}});
  ASSERT_TRUE(args.ok());
  EXPECT_FALSE(args->Number("n", 4).ok());  // min 1 by default
  EXPECT_EQ(*args->Number("n", 4, 0), 0u);
  EXPECT_EQ(*args->Number("m", 4), 12u);
  EXPECT_FALSE(args->Number("m", 4, 1, 10).ok());
  EXPECT_FALSE(args->Number("k", 4).ok());
  EXPECT_EQ(*args->Number("absent", 4), 4u);
}

class GlobalOptionsTest : public ::testing::Test {
 protected:
  std::function<const char*(const char*)> Env() {
    return [this](const char* name) -> const char* {
      auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    };
  }
  std::map<std::string, std::string> env_;
};

TEST_F(GlobalOptionsTest, DefaultsWithoutEnvironment) {
  std::vector<std::string> args = {"status"};
  absl::StatusOr<GlobalOptions> o = ExtractGlobalOptions(&args, Env());
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->url, "http://127.0.0.1:8400");
  EXPECT_EQ(o->admin_token, "");
  EXPECT_EQ(o->timeout_ms, 60'000);
  EXPECT_EQ(args, (std::vector<std::string>{"status"}));
}

TEST_F(GlobalOptionsTest, FlagsAnywhereOverrideEnvironment) {
  env_ = {{"OUTBOXD_URL", "http://env:1"},
          {"OUTBOXD_ADMIN_TOKEN", "env-admin"},
          {"OUTBOXD_INGEST_TOKEN", "env-ingest"}};
  std::vector<std::string> args = {"dead",
                                   "list",
                                   "--url=http://flag:2/",
                                   "3",
                                   "--admin-token",
                                   "flag-admin",
                                   "--timeout",
                                   "5",
                                   "--limit",
                                   "2"};
  absl::StatusOr<GlobalOptions> o = ExtractGlobalOptions(&args, Env());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->url, "http://flag:2");  // trailing slash dropped
  EXPECT_EQ(o->admin_token, "flag-admin");
  EXPECT_EQ(o->ingest_token, "env-ingest");
  EXPECT_EQ(o->timeout_ms, 5'000);
  EXPECT_EQ(args, (std::vector<std::string>{"dead", "list", "3", "--limit", "2"}));
}

TEST_F(GlobalOptionsTest, BadTimeoutAndMissingValue) {
  std::vector<std::string> args = {"status", "--timeout", "soon"};
  EXPECT_FALSE(ExtractGlobalOptions(&args, Env()).ok());
  args = {"status", "--url"};
  EXPECT_FALSE(ExtractGlobalOptions(&args, Env()).ok());
}

TEST_F(GlobalOptionsTest, LeavesArgumentsAfterDoubleDash) {
  std::vector<std::string> args = {"send", "--", "--url"};
  absl::StatusOr<GlobalOptions> o = ExtractGlobalOptions(&args, Env());
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(args, (std::vector<std::string>{"send", "--", "--url"}));
}

}  // namespace
}  // namespace outboxd::ctl
