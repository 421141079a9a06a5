// outboxd's flags: durations and sizes, flags over environment over
// defaults, errors that name the flag, and --help listing every option.
#include "daemon/options.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace outboxd {
namespace {

std::map<std::string, std::string>* g_env = nullptr;

const char* FakeGetenv(const char* name) {
  auto it = g_env->find(name);
  return it == g_env->end() ? nullptr : it->second.c_str();
}

class DaemonOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override { g_env = &env_; }
  void TearDown() override { g_env = nullptr; }

  absl::StatusOr<DaemonOptions> Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "outboxd");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    return ParseDaemonOptions(static_cast<int>(argv.size()), argv.data(), FakeGetenv);
  }

  std::map<std::string, std::string> env_;
};

TEST(ParseDurationTest, UnitsAndBareSeconds) {
  EXPECT_EQ(ParseDuration("500ms").value(), 500);
  EXPECT_EQ(ParseDuration("30s").value(), 30 * kSecondMs);
  EXPECT_EQ(ParseDuration("10m").value(), 10 * kMinuteMs);
  EXPECT_EQ(ParseDuration("12h").value(), 12 * kHourMs);
  EXPECT_EQ(ParseDuration("7d").value(), 7 * 24 * kHourMs);
  EXPECT_EQ(ParseDuration("1.5").value(), 1500);
  for (const char* bad : {"", "ms", "-1s", "ten", "5 parsecs", "1e20h"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
}

TEST(ParseBytesTest, PowersOf1024) {
  EXPECT_EQ(ParseBytes("1000").value(), 1000u);
  EXPECT_EQ(ParseBytes("512KiB").value(), 512u << 10);
  EXPECT_EQ(ParseBytes("16MB").value(), 16u << 20);
  EXPECT_EQ(ParseBytes("2G").value(), 2ull << 30);
  for (const char* bad : {"", "MB", "-5MB", "1.5GB", "99999999999999999999", "20000000000GB"}) {
    EXPECT_FALSE(ParseBytes(bad).ok()) << bad;
  }
}

TEST_F(DaemonOptionsTest, DefaultsWithoutFlagsOrEnvironment) {
  auto o = Parse({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->data_dir, "outboxd-data");
  EXPECT_EQ(o->listen, "127.0.0.1:8400");
  EXPECT_EQ(o->request_timeout_ms, 30 * kSecondMs);
  EXPECT_EQ(o->store_write_buffer_bytes, 64ull << 20);
  EXPECT_EQ(o->health_window_ms, 12 * kHourMs);
  EXPECT_EQ(o->health_min_requests, 20u);
  EXPECT_EQ(o->prefault_bytes, 160ull << 20);
}

TEST_F(DaemonOptionsTest, FlagsWinOverTheEnvironment) {
  env_["OUTBOXD_REQUEST_TIMEOUT"] = "5s";
  env_["OUTBOXD_STORE_WRITE_BUFFER"] = "8MB";
  env_["OUTBOXD_DISK_QUOTA"] = "1GB";
  env_["OUTBOXD_PREFAULT_MEMORY"] = "0";
  auto o = Parse({"--request-timeout", "2s", "--store-block-cache=16MiB", "--linger",
                  "1ms", "--max-held-bytes", "32MB", "--store-fresh-cache", "0"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->request_timeout_ms, 2 * kSecondMs);   // flag over variable
  EXPECT_EQ(o->store_write_buffer_bytes, 8u << 20);  // variable over default
  EXPECT_EQ(o->store_block_cache_bytes, 16u << 20);
  EXPECT_EQ(o->disk_quota_bytes, 1ull << 30);
  EXPECT_EQ(o->linger_ms, 1);
  EXPECT_EQ(o->max_held_bytes, 32u << 20);
  EXPECT_EQ(o->store_fresh_cache_bytes, 0u);
  EXPECT_EQ(o->prefault_bytes, 0u);
}

TEST_F(DaemonOptionsTest, RepeatableAndSwitchFlags) {
  auto o = Parse({"--connect-to", "::127.0.0.1:9000", "--connect-to", "a:443:127.0.0.1:9001",
                  "--allow-endpoint-override"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->connect_to, (std::vector<std::string>{"::127.0.0.1:9000", "a:443:127.0.0.1:9001"}));
  EXPECT_TRUE(o->allow_endpoint_override);
  EXPECT_FALSE(o->http2);  // HTTP/1.1 unless asked
  auto h2 = Parse({"--http2"});
  ASSERT_TRUE(h2.ok()) << h2.status();
  EXPECT_TRUE(h2->http2);
}

TEST_F(DaemonOptionsTest, ErrorsNameTheFlagOrVariable) {
  auto message = [&](std::vector<std::string> args) {
    auto o = Parse(std::move(args));
    EXPECT_FALSE(o.ok());
    return o.ok() ? std::string() : std::string(o.status().message());
  };
  EXPECT_TRUE(absl::StartsWith(message({"--request-timeout", "soon"}), "--request-timeout: "));
  EXPECT_TRUE(absl::StartsWith(message({"--store-write-buffer", "big"}), "--store-write-buffer: "));
  EXPECT_EQ(message({"--no-such-flag"}), "unknown option --no-such-flag (see --help)");
  EXPECT_EQ(message({"--listen"}), "--listen needs a value");
  EXPECT_EQ(message({"stray"}), "unexpected argument 'stray'");
  env_["OUTBOXD_HEALTH_THRESHOLD"] = "1.5";
  EXPECT_TRUE(absl::StartsWith(message({}), "OUTBOXD_HEALTH_THRESHOLD: "));
}

TEST(DaemonUsageTest, ListsEveryOptionWithItsVariableAndDefault) {
  const std::string usage = DaemonUsage();
  for (const char* line : {"--request-timeout DURATION", "env OUTBOXD_REQUEST_TIMEOUT; default 30s",
                           "--store-write-buffer BYTES", "--disk-quota BYTES", "--connect-to",
                           "env OUTBOXD_HEALTH_WINDOW; default 12h"}) {
    EXPECT_TRUE(absl::StrContains(usage, line)) << line;
  }
}

}  // namespace
}  // namespace outboxd
