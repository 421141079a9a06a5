// outboxctl end to end: fake_sentinel and outboxd run as child processes on
// loopback (port 0), outboxctl runs as a process per command, and the tests
// check its output, its exit codes and what reached the fake.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "fakes/process.h"
#include "fakes/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace outboxd {
namespace {

using testing::ChildProcess;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using testing::ProcessResult;
using testing::RunProcess;
using ::testing::StartsWith;

constexpr char kWorkspace[] = "0b9c3c2e-54f5-4f2e-9a39-0d8d7a6f1c11";
// printf 'secret-key-1234567890' | base64
constexpr char kKey[] = "c2VjcmV0LWtleS0xMjM0NTY3ODkw";
constexpr char kDcrClient[] = "3f2d1c0b-1111-4222-8333-944455556666";
constexpr char kDcrSecret[] = "ctl-test-client-secret";
constexpr char kAdminToken[] = "ctl-test-admin-token";
constexpr char kIngestToken[] = "ctl-test-ingest-token";

std::string UserEvent(int n, const std::string& extra = "") {
  return absl::StrCat(R"({"id":"ctl-)", n,
                      R"(","company_id":1,"event_type":"user_created","occurred_at":)",
                      R"("2026-11-27T10:00:00Z","user":"u)", n, "\"", extra, "}\n");
}

std::string Events(int n) {
  std::string text;
  for (int i = 1; i <= n; ++i) text += UserEvent(i);
  return text;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// Polls `done` until it holds or `timeout` passes; returns its last value.
bool Eventually(const std::function<bool()>& done,
                std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a bounded poll
  }
  return true;
}

class CtlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    records_path_ = dir_.Sub("records.ndjson");
    sentinel_ = ChildProcess::Start(
        {FAKE_SENTINEL_PATH, "--listen", "127.0.0.1:0", "--out", records_path_,
         "--workspace", absl::StrCat(kWorkspace, "=", kKey), "--dcr-client",
         absl::StrCat(kDcrClient, "=", kDcrSecret)},
        dir_.Sub("sentinel.log"));
    ASSERT_NE(sentinel_, nullptr);
    sentinel_port_ = sentinel_->WaitForListening();
    ASSERT_NE(sentinel_port_, 0) << "fake_sentinel did not start";
    StartDaemon();
  }

  void StartDaemon() {
    daemon_ =
        ChildProcess::Start({OUTBOXD_PATH, "--data-dir", DataDir(), "--listen",
                             "127.0.0.1:0", "--admin-token", kAdminToken,
                             "--ingest-token", kIngestToken, "--allow-endpoint-override",
                             "--health-min-requests", "100000", "--linger", "5ms"},
                            dir_.Sub("outboxd.log"));
    ASSERT_NE(daemon_, nullptr);
    const uint16_t port = daemon_->WaitForListening();
    ASSERT_NE(port, 0) << "outboxd did not start; see " << dir_.Sub("outboxd.log");
    url_ = absl::StrCat("http://127.0.0.1:", port);
  }

  std::string DataDir() const { return dir_.Sub("data"); }

  // outboxctl with the daemon's URL and tokens in its environment.
  ProcessResult Ctl(std::vector<std::string> args, std::string_view input = {}) {
    args.insert(args.begin(), OUTBOXCTL_PATH);
    return RunProcess(
        args,
        {"OUTBOXD_URL=" + url_, absl::StrCat("OUTBOXD_ADMIN_TOKEN=", kAdminToken),
         absl::StrCat("OUTBOXD_INGEST_TOKEN=", kIngestToken)},
        input);
  }

  std::string IntegrationJson(const std::string& name = "ctl test") const {
    return absl::StrCat(
        R"({"company_id":1,"name":")", name, R"(","kind":"sentinel","workspace_id":")",
        kWorkspace, R"(","primary_key":")", kKey, R"(","endpoint":"http://127.0.0.1:)",
        sentinel_port_, R"(","events":{"system":true,"hits":true}})");
  }

  // A Logs Ingestion API integration whose token authority and ingestion
  // endpoint are the fake.
  std::string DcrIntegrationJson() const {
    const std::string fake = absl::StrCat("http://127.0.0.1:", sentinel_port_);
    return absl::StrCat(
        R"({"company_id":1,"name":"dcr","kind":"sentinel_dcr","tenant_id":"contoso.onmicrosoft.com",)",
        R"("client_id":")", kDcrClient, R"(","client_secret":")", kDcrSecret,
        R"(","authority":")", fake, R"(","dce_endpoint":")", fake,
        R"(","dcr_immutable_id":"dcr-00112233445566778899aabbccddeeff",)",
        R"("stream":"Custom-Outboxd_CL","events":{"system":true,"hits":true}})");
  }

  // GET `path` from the fake (its /stats); the body, or "" on any error.
  std::string FakeGet(const std::string& path) const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return "";
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(sentinel_port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string answer;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      const std::string request =
          absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
      if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
        char buf[4096];
        for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) answer.append(buf, n);
      }
    }
    close(fd);
    const size_t body = answer.find("\r\n\r\n");
    return body == std::string::npos ? "" : answer.substr(body + 4);
  }

  // Adds the integration; its id.
  uint64_t AddIntegration() {
    ProcessResult r = Ctl({"integrations", "add", "-q", "--json", IntegrationJson()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    uint64_t id = 0;
    EXPECT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(r.out), &id)) << r.out;
    return id;
  }

  std::vector<std::string> Records() const {
    std::vector<std::string> lines;
    std::ifstream in(records_path_);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) lines.push_back(line);
    }
    return lines;
  }

  // A field of `status --json` for integration `id`, -1 when absent.
  int64_t StatusField(uint64_t id, const char* field) {
    ProcessResult r = Ctl({"status", "--json"});
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (r.exit_code != 0 || parser.parse(r.out).get(root) != simdjson::SUCCESS) return -1;
    for (simdjson::dom::element i : root["integrations"].get_array()) {
      uint64_t got = 0;
      int64_t value = -1;
      if (i["id"].get(got) == simdjson::SUCCESS && got == id &&
          i[field].get(value) == simdjson::SUCCESS) {
        return value;
      }
    }
    return -1;
  }

  TempDir dir_;
  std::string records_path_;
  std::unique_ptr<ChildProcess> sentinel_;
  std::unique_ptr<ChildProcess> daemon_;
  uint16_t sentinel_port_ = 0;
  std::string url_;
};

TEST_F(CtlTest, IntegrationLifecycle) {
  ProcessResult test = Ctl({"integrations", "test", "--json", IntegrationJson()});
  EXPECT_EQ(test.exit_code, 0) << test.err;
  EXPECT_THAT(test.out, StartsWith("test ok: HTTP 200 in "));

  ProcessResult add = Ctl({"integrations", "add", "--json", IntegrationJson("first")});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  EXPECT_THAT(
      add.out,
      MatchesRegex("created integration [0-9]+ \"first\" \\(sentinel, enabled\\)\n"));
  const uint64_t first =
      std::stoull(add.out.substr(std::string("created integration ").size()));
  const uint64_t second = AddIntegration();
  ASSERT_GT(second, first);
  const std::string id = absl::StrCat(second);

  ProcessResult list = Ctl({"integrations", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const std::vector<std::string> rows = absl::StrSplit(list.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(rows.size(), 3u) << list.out;
  EXPECT_THAT(rows[0], StartsWith("ID  COMPANY  NAME"));
  EXPECT_THAT(rows[1], MatchesRegex(absl::StrCat(
                           first, " +1 +first +sentinel +enabled +hits,system")));
  EXPECT_THAT(rows[2], MatchesRegex(absl::StrCat(
                           id, " +1 +ctl test +sentinel +enabled +hits,system")));

  ProcessResult update =
      Ctl({"integrations", "update", id, "--json", R"({"name":"renamed"})"});
  EXPECT_EQ(update.exit_code, 0) << update.err;
  EXPECT_THAT(update.out, HasSubstr("updated integration " + id));
  ProcessResult get = Ctl({"integrations", "get", id});
  EXPECT_EQ(get.exit_code, 0);
  EXPECT_THAT(get.out, ContainsRegex("name: +renamed\n"));
  EXPECT_THAT(get.out, Not(HasSubstr(kKey)));  // the secret comes back masked

  EXPECT_THAT(Ctl({"integrations", "disable", id}).out,
              HasSubstr("integration " + id + " is disabled"));
  EXPECT_THAT(Ctl({"integrations", "list"}).out,
              ContainsRegex("renamed +sentinel +disabled"));
  EXPECT_THAT(Ctl({"integrations", "enable", id}).out,
              HasSubstr("integration " + id + " is enabled"));
  ProcessResult saved_test = Ctl({"integrations", "test", id});
  EXPECT_EQ(saved_test.exit_code, 0) << saved_test.err;
  EXPECT_THAT(saved_test.out, StartsWith("test ok: HTTP 200"));

  ProcessResult del = Ctl({"integrations", "delete", id});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_THAT(del.out, HasSubstr("integration " + id + " deleted"));
  ProcessResult gone = Ctl({"integrations", "get", id});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_THAT(gone.err, HasSubstr("HTTP 404"));
}

TEST_F(CtlTest, ApiErrorsAreShownWithTheirField) {
  ProcessResult r =
      Ctl({"integrations", "add", "--json", R"({"company_id":0,"name":"x"})"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("outboxctl: HTTP 400: "));
  EXPECT_THAT(r.err, HasSubstr("field: "));
  ProcessResult bad_test = Ctl({"integrations", "test", "--json", "{not json"});
  EXPECT_EQ(bad_test.exit_code, 2);  // caught before the request
  EXPECT_THAT(bad_test.err, HasSubstr("invalid JSON"));
}

TEST_F(CtlTest, SendDeliversEveryRecord) {
  AddIntegration();
  const std::string file = dir_.Sub("events.ndjson");
  WriteFile(file, Events(2500));
  ProcessResult r = Ctl({"send", file, "--chunk-lines", "300", "--connections", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("2500 events accepted, 2500 deliveries in "));
  EXPECT_THAT(r.out, HasSubstr(" events/s)\n"));
  EXPECT_TRUE(Eventually([&] { return Records().size() >= 2500; }))
      << Records().size() << " records arrived";
  EXPECT_EQ(Records().size(), 2500u);
  EXPECT_THAT(Records()[0], HasSubstr("\"log_type\":\"create_user\""));

  // stdin, JSON summary.
  ProcessResult piped = Ctl({"send", "-", "--json"}, Events(3));
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_THAT(piped.out, StartsWith(R"({"accepted":3,"deliveries":3,"requests":1,)"));
}

// sentinel_dcr end to end: Test integration fetches a token and gets the
// fake's 204; events whose times span four hours are sent in calls of at
// most 30 minutes each (the batcher splits before sending, so the fake never
// has to refuse a call), and every one arrives.
TEST_F(CtlTest, LogsIngestionIntegrationTestsAndDeliversWithinTheTimeSpan) {
  ProcessResult test = Ctl({"integrations", "test", "--json", DcrIntegrationJson()});
  EXPECT_EQ(test.exit_code, 0) << test.err;
  EXPECT_THAT(test.out, StartsWith("test ok: HTTP 204 in "));
  ProcessResult add = Ctl({"integrations", "add", "-q", "--json", DcrIntegrationJson()});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  std::string events;
  constexpr int kEvents = 480;
  for (int i = 0; i < kEvents; ++i) {
    // Minute i % 240 of the day: every batch of consecutive events spans hours.
    events += absl::StrCat(R"({"id":"dcr-)", i,
                           R"(","company_id":1,"event_type":"user_created","occurred_at":)",
                           absl::StrFormat(R"("2026-11-27T%02d:%02d:00Z")", (i % 240) / 60,
                                           i % 60),
                           R"(,"user":"u)", i, "\"}\n");
  }
  ProcessResult sent = Ctl({"send", "-"}, events);
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_TRUE(Eventually([&] { return Records().size() >= kEvents + 1; }))
      << Records().size() << " records arrived";
  EXPECT_EQ(Records().size(), kEvents + 1u);  // and the test record
  for (const std::string& r : Records()) {
    EXPECT_THAT(r, HasSubstr(R"("log_type":"Custom-Outboxd_CL")"));
  }
  const std::string stats = FakeGet("/stats");
  EXPECT_THAT(stats, HasSubstr(R"("204":)")) << stats;
  EXPECT_THAT(stats, Not(HasSubstr(R"("400")"))) << "a call was refused: " << stats;
  EXPECT_THAT(stats, Not(HasSubstr(R"("413")"))) << stats;
}

TEST_F(CtlTest, BadLineIsReportedWithItsLineInTheFile) {
  AddIntegration();
  std::string text = Events(1233);
  text +=
      R"({"id":"bad","event_type":"user_created","occurred_at":"2026-11-27T10:00:00Z"})"
      "\n";
  text += Events(400);
  const std::string file = dir_.Sub("bad.ndjson");
  WriteFile(file, text);
  ProcessResult r = Ctl({"send", file, "--chunk-lines", "500", "--connections", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat(file, " line 1234: ")));
  EXPECT_THAT(r.err, HasSubstr("(field: company_id)"));
  EXPECT_THAT(r.out, HasSubstr("events accepted"));  // the summary is still printed
}

TEST_F(CtlTest, StatusShowsQueuesAndTheWindow) {
  const uint64_t id = AddIntegration();
  ASSERT_EQ(Ctl({"send", "-"}, Events(10)).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return Records().size() >= 10; }));
  ASSERT_TRUE(Eventually([&] { return StatusField(id, "queued") == 0; }));
  ProcessResult r = Ctl({"status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> rows = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(rows.size(), 2u) << r.out;
  EXPECT_THAT(rows[0],
              MatchesRegex("ID +NAME +STATE +QUEUED +OLDEST DUE +REQUESTS +FAILED %"));
  // 10 records in at least one request, none failed.
  EXPECT_THAT(rows[1], MatchesRegex(absl::StrCat(
                           id, " +ctl test +enabled +0 +- +[1-9][0-9]* +0\\.0")));
}

TEST_F(CtlTest, DeadLettersAreListedAndReplayed) {
  const uint64_t id = AddIntegration();
  const std::string send =
      UserEvent(1) + UserEvent(2, R"(,"reject":true)") + UserEvent(3);
  ASSERT_EQ(Ctl({"send", "-"}, send).exit_code, 0);
  std::string listed;
  ASSERT_TRUE(Eventually([&] {
    listed = Ctl({"dead", "list", absl::StrCat(id)}).out;
    return absl::StrContains(listed, "ctl-2");
  })) << listed;
  EXPECT_THAT(listed, ContainsRegex("SEQ +LOG TYPE +ATTEMPTS +DIED +EVENT ID +REASON"));
  EXPECT_THAT(listed, ContainsRegex("create_user +[0-9]+ .* ctl-2 +.*400"));
  ProcessResult json = Ctl({"dead", "list", absl::StrCat(id), "--json", "--limit", "5"});
  EXPECT_THAT(json.out, HasSubstr(R"("reject":true)"));
  EXPECT_TRUE(Eventually([&] { return Records().size() >= 2; }));

  // Parked (disabled), the replayed delivery stays queued where status sees it.
  ASSERT_EQ(Ctl({"integrations", "disable", absl::StrCat(id)}).exit_code, 0);
  const int64_t queued_before = StatusField(id, "queued");
  ProcessResult replay = Ctl({"dead", "replay", absl::StrCat(id)});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_EQ(replay.out,
            absl::StrCat("replayed 1 dead deliveries of integration ", id, "\n"));
  EXPECT_EQ(StatusField(id, "queued"), queued_before + 1);
  EXPECT_THAT(Ctl({"dead", "list", absl::StrCat(id)}).out,
              HasSubstr("no dead deliveries"));
  ProcessResult none = Ctl({"dead", "replay", absl::StrCat(id), "--seq", "999999"});
  EXPECT_EQ(none.out,
            absl::StrCat("replayed 0 dead deliveries of integration ", id, "\n"));
}

TEST_F(CtlTest, InspectReadsAStoppedDaemonsDataDir) {
  const uint64_t id = AddIntegration();
  ProcessResult locked = Ctl({"inspect", DataDir()});
  EXPECT_EQ(locked.exit_code, 1);
  EXPECT_THAT(locked.err, HasSubstr("outboxd is running on it"));

  // With the destination gone, the 4 deliveries stay queued for retries.
  sentinel_->Terminate();
  ASSERT_EQ(Ctl({"send", "-"}, Events(4)).exit_code, 0);
  ASSERT_EQ(daemon_->Terminate(), 0);

  ProcessResult r = Ctl({"inspect", DataDir()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> rows = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(rows.size(), 2u) << r.out;
  EXPECT_THAT(
      rows[0],
      MatchesRegex(
          "ID +NAME +STATE +QUEUED +OLDEST DUE +DEAD +NOTICES QUEUED +NOTICES DEAD"));
  EXPECT_THAT(rows[1],
              MatchesRegex(absl::StrCat(id, " +ctl test +enabled +4 +.* +0 +0 +0")));
  ProcessResult json = Ctl({"inspect", DataDir(), "--json"});
  EXPECT_THAT(json.out, HasSubstr(R"("outbox":{"queued":4,"oldest_due":")"));
  EXPECT_THAT(Ctl({"inspect", dir_.Sub("nowhere")}).err, HasSubstr("no outbox in"));
}

TEST_F(CtlTest, UsageAndConnectionErrors) {
  ProcessResult unknown = Ctl({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("unknown command \"frobnicate\""));
  ProcessResult bad_flag = Ctl({"status", "--limt", "3"});
  EXPECT_EQ(bad_flag.exit_code, 2);
  ProcessResult no_token =
      RunProcess({OUTBOXCTL_PATH, "status", "--url", url_}, {"OUTBOXD_ADMIN_TOKEN="});
  EXPECT_EQ(no_token.exit_code, 2);
  EXPECT_THAT(no_token.err, HasSubstr("no admin token"));
  ProcessResult wrong_token = Ctl({"status", "--admin-token", "nope"});
  EXPECT_EQ(wrong_token.exit_code, 1);
  EXPECT_THAT(wrong_token.err, HasSubstr("HTTP 401"));
  daemon_->Terminate();
  ProcessResult down = Ctl({"integrations", "list"});
  EXPECT_EQ(down.exit_code, 3);
  EXPECT_THAT(down.err, HasSubstr("cannot reach outboxd at " + url_));
}

// Resident memory of `pid` in KiB (VmRSS), or -1.
long ResidentKib(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    long kib = 0;
    if (absl::StartsWith(line, "VmRSS:") &&
        absl::SimpleAtoi(
            absl::StripSuffix(absl::StripAsciiWhitespace(line.substr(6)), " kB"), &kib)) {
      return kib;
    }
  }
  return -1;
}

// --prefault-memory is faulted in before the API listens, so a client's
// first requests do not wait for the kernel to zero the memory they use.
TEST(DaemonStartupTest, HeapsArePrefaultedBeforeItListens) {
  TempDir dir;
  auto resident_when_listening = [&dir](const std::string& prefault) {
    const std::string data = dir.Sub("data-" + prefault);
    auto daemon = ChildProcess::Start(
        {OUTBOXD_PATH, "--data-dir", data, "--listen", "127.0.0.1:0", "--admin-token",
         kAdminToken, "--ingest-token", kIngestToken, "--prefault-memory", prefault},
        dir.Sub("outboxd-" + prefault + ".log"));
    if (daemon == nullptr || daemon->WaitForListening() == 0) return -1L;
    return ResidentKib(daemon->pid());
  };
  const long without = resident_when_listening("0");
  const long with = resident_when_listening("192MiB");
  ASSERT_GT(without, 0);
  ASSERT_GT(with, 0);
  EXPECT_GE(with - without, 150L << 10)
      << "RSS " << without << " KiB without, " << with << " KiB with 192 MiB prefaulted";
}

TEST(DaemonStartupTest, APrefaultLargerThanHalfTheMemoryIsRefusedByName) {
  TempDir dir;
  const ProcessResult r =
      RunProcess({OUTBOXD_PATH, "--data-dir", dir.Sub("data"), "--listen", "127.0.0.1:0",
                  "--admin-token", kAdminToken, "--ingest-token", kIngestToken,
                  "--prefault-memory", "1000000GiB"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("bad --prefault-memory"));
  EXPECT_THAT(r.err, HasSubstr("more than half of this machine's memory"));
  EXPECT_THAT(r.out, Not(HasSubstr("listening")));
}

}  // namespace
}  // namespace outboxd
