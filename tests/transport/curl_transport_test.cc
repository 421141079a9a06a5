// CurlTransport against tools/fake_sentinel over loopback.
#include "transport/curl_transport.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "outboxd/open_files.h"
#include "transport/test_support.h"

namespace outboxd {
namespace {

using ::outboxd::testing::FakeSentinel;
using ::outboxd::testing::Fetch;
using ::outboxd::testing::JsonInt;
using ::outboxd::testing::RunUntil;
using ::outboxd::testing::SignedPost;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class CurlTransportTest : public ::testing::Test {
 protected:
  std::unique_ptr<CurlTransport> MakeTransport(TransportOptions options = {}) {
    auto transport = CurlTransport::Create(io_, &clock_, std::move(options));
    EXPECT_TRUE(transport.ok()) << transport.status();
    return transport.ok() ? *std::move(transport) : nullptr;
  }

  std::unique_ptr<FakeSentinel> StartFake(const std::vector<std::string>& args = {}) {
    auto fake = FakeSentinel::Start(args);
    EXPECT_TRUE(fake.ok()) << fake.status();
    return fake.ok() ? *std::move(fake) : nullptr;
  }

  std::string Stats(CurlTransport& transport, const FakeSentinel& fake) {
    HttpRequest request;
    request.method = "GET";
    request.url = fake.Url("/stats");
    HttpResponse response = Fetch(io_, transport, std::move(request));
    EXPECT_EQ(response.status, 200) << response.transport_error;
    return response.body;
  }

  testing::WallClock clock_;
  boost::asio::io_context io_;
};

TEST_F(CurlTransportTest, SignedPostIsRecorded) {
  auto fake = StartFake();
  ASSERT_NE(fake, nullptr);
  auto transport = MakeTransport();
  HttpResponse response =
      Fetch(io_, *transport,
            SignedPost(fake->LogsUrl(), R"([{"id":"e1","n":1},{"id":"e2","n":2}])",
                       "new_hits"));
  EXPECT_EQ(response.status, 200) << response.transport_error;
  EXPECT_TRUE(response.ok());
  EXPECT_EQ(response.body, "");
  EXPECT_EQ(response.Header("content-length"), "0");
  EXPECT_EQ(response.Header("server"), "fake_sentinel");
  EXPECT_GE(response.latency_ms, 0);
  EXPECT_EQ(transport->InFlight(), 0u);

  std::vector<std::string> lines = fake->WaitForRecords(2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr(R"("log_type":"new_hits")"));
  EXPECT_THAT(lines[0], HasSubstr(absl::StrCat(R"("workspace":")", testing::kWorkspace)));
  EXPECT_THAT(lines[0], HasSubstr(R"("record":{"id":"e1","n":1}})"));
  EXPECT_THAT(lines[1], HasSubstr(R"("record":{"id":"e2","n":2}})"));
}

TEST_F(CurlTransportTest, WrongKeyIsInvalidAuthorization) {
  auto fake = StartFake();
  ASSERT_NE(fake, nullptr);
  auto transport = MakeTransport();
  HttpResponse response =
      Fetch(io_, *transport,
            SignedPost(fake->LogsUrl(), R"([{"id":"e1"}])", "create_user",
                       testing::kWorkspace, testing::kWrongKey));
  EXPECT_EQ(response.status, 403);
  EXPECT_FALSE(response.ok());
  EXPECT_THAT(response.body, HasSubstr(R"("Error":"InvalidAuthorization")"));
  EXPECT_EQ(response.Header("content-type"), "application/json");
  const std::string stats = Stats(*transport, *fake);
  EXPECT_EQ(JsonInt(stats, "accepted_records"), 0) << stats;
  EXPECT_EQ(JsonInt(stats, "requests"), 1) << stats;
}

TEST_F(CurlTransportTest, BadLogTypeAndBadJsonAre400) {
  auto fake = StartFake();
  ASSERT_NE(fake, nullptr);
  auto transport = MakeTransport();
  HttpResponse bad_type = Fetch(
      io_, *transport, SignedPost(fake->LogsUrl(), R"([{"id":"e1"}])", "bad-type!"));
  EXPECT_EQ(bad_type.status, 400);
  EXPECT_THAT(bad_type.body, HasSubstr(R"("Error":"InvalidLogType")"));

  HttpResponse bad_json =
      Fetch(io_, *transport, SignedPost(fake->LogsUrl(), R"([{"id":)"));
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_THAT(bad_json.body, HasSubstr(R"("Error":"InvalidDataFormat")"));

  HttpResponse poisoned =
      Fetch(io_, *transport,
            SignedPost(fake->LogsUrl(), R"([{"id":"ok"},{"id":"bad","reject":true}])"));
  EXPECT_EQ(poisoned.status, 400);
  EXPECT_THAT(poisoned.body, HasSubstr("record 1"));
}

TEST_F(CurlTransportTest, SequentialRequestsReuseOneConnection) {
  auto fake = StartFake();
  ASSERT_NE(fake, nullptr);
  constexpr int kRequests = 200;
  int done = 0;
  int ok = 0;
  auto transport = MakeTransport();
  // Each answer sends the next request: strictly sequential.
  std::function<void()> send_next = [&] {
    transport->Send(SignedPost(fake->LogsUrl(), absl::StrCat(R"([{"i":)", done, "}]")),
                    [&](HttpResponse r) {
                      ok += r.status == 200;
                      if (++done < kRequests) send_next();
                    });
  };
  send_next();
  ASSERT_TRUE(RunUntil(io_, [&] { return done == kRequests; }));
  EXPECT_EQ(ok, kRequests);
  EXPECT_EQ(transport->NewConnections(), 1u);
  EXPECT_EQ(transport->PeakInFlight(), 1u);
  const std::string stats = Stats(*transport, *fake);
  EXPECT_EQ(JsonInt(stats, "connections"), 1) << stats;
  EXPECT_EQ(JsonInt(stats, "accepted_records"), kRequests) << stats;
}

TEST_F(CurlTransportTest, TwoThousandRequestsInFlightAtOnce) {
  ASSERT_GE(RaiseOpenFileLimit(), 4200u) << "not enough descriptors for this test";
  constexpr size_t kRequests = 2000;
  // The gate holds every answer until all 2,000 wait at the receiver, so the
  // peaks below do not depend on how fast this machine is.
  auto fake = StartFake({"--latency-ms", "300", "--gate", absl::StrCat(kRequests)});
  ASSERT_NE(fake, nullptr);
  TransportOptions options;
  options.max_host_connections = 2500;
  size_t done = 0;  // declared before the transport, which may still call back
  size_t ok = 0;
  auto transport = MakeTransport(options);
  for (size_t i = 0; i < kRequests; ++i) {
    HttpRequest request = SignedPost(fake->LogsUrl(), absl::StrCat(R"([{"i":)", i, "}]"));
    request.timeout_ms = 40 * kSecondMs;
    transport->Send(std::move(request), [&](HttpResponse r) {
      ++done;
      ok += r.status == 200;
    });
  }
  EXPECT_EQ(done, 0u);  // nothing completes inside Send
  EXPECT_EQ(transport->InFlight(), kRequests);
  ASSERT_TRUE(RunUntil(
      io_, [&] { return done == kRequests; }, std::chrono::seconds(45)))
      << done << " of " << kRequests << " done";
  EXPECT_EQ(ok, kRequests);
  EXPECT_GE(transport->PeakInFlight(), kRequests);
  EXPECT_EQ(transport->InFlight(), 0u);
  EXPECT_GE(transport->NewConnections(), 1000u);  // no multiplexing on HTTP/1.1
  const std::string stats = Stats(*transport, *fake);
  EXPECT_GE(JsonInt(stats, "peak_in_flight"), 1000) << stats;
  EXPECT_EQ(JsonInt(stats, "accepted_records"), static_cast<int64_t>(kRequests)) << stats;
}

TEST_F(CurlTransportTest, ReceiverThatNeverAnswersTimesOut) {
  auto fake = StartFake({"--timeout-rate", "1"});
  ASSERT_NE(fake, nullptr);
  auto transport = MakeTransport();
  HttpRequest request = SignedPost(fake->LogsUrl(), R"([{"id":"e1"}])");
  request.timeout_ms = 300;
  HttpResponse response = Fetch(io_, *transport, std::move(request));
  EXPECT_EQ(response.status, 0);
  EXPECT_TRUE(response.timed_out);
  EXPECT_THAT(response.transport_error, HasSubstr("Timeout"));
  EXPECT_FALSE(response.ok());
}

TEST_F(CurlTransportTest, ConnectionResetIsATransportError) {
  auto fake = StartFake({"--reset-rate", "1"});
  ASSERT_NE(fake, nullptr);
  auto transport = MakeTransport();
  HttpResponse response =
      Fetch(io_, *transport, SignedPost(fake->LogsUrl(), R"([{"id":"e1"}])"));
  EXPECT_EQ(response.status, 0);
  EXPECT_FALSE(response.timed_out);
  EXPECT_THAT(response.transport_error, Not(IsEmpty()));
  EXPECT_THAT(response.transport_error, Not(HasSubstr("test: no answer")));
}

TEST_F(CurlTransportTest, RefusedConnectionIsATransportError) {
  // A bound socket that does not listen: connecting to it is refused.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  auto transport = MakeTransport();
  HttpResponse response = Fetch(
      io_, *transport,
      SignedPost(absl::StrCat("http://127.0.0.1:", ntohs(address.sin_port), "/api/logs"),
                 "[]"));
  close(fd);
  EXPECT_EQ(response.status, 0);
  EXPECT_FALSE(response.timed_out);
  EXPECT_THAT(response.transport_error, HasSubstr("connect"));
}

TEST_F(CurlTransportTest, RetryAfterIsVisibleAndFaultsChangeAtRuntime) {
  auto fake =
      StartFake({"--fail-rate", "1", "--fail-status", "429", "--retry-after", "7"});
  ASSERT_NE(fake, nullptr);
  auto transport = MakeTransport();
  HttpResponse throttled =
      Fetch(io_, *transport, SignedPost(fake->LogsUrl(), R"([{"id":"e1"}])"));
  EXPECT_EQ(throttled.status, 429);
  EXPECT_EQ(throttled.Header("retry-after"), "7");
  EXPECT_THAT(throttled.body, HasSubstr("TooManyRequests"));

  HttpRequest control;
  control.url = fake->Url("/control");
  control.body = R"({"fail_status":503,"retry_after":3})";
  EXPECT_EQ(Fetch(io_, *transport, control).status, 200);
  HttpResponse unavailable =
      Fetch(io_, *transport, SignedPost(fake->LogsUrl(), R"([{"id":"e2"}])"));
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_EQ(unavailable.Header("retry-after"), "3");

  control.body = R"({"clear":true})";
  EXPECT_EQ(Fetch(io_, *transport, control).status, 200);
  HttpResponse accepted =
      Fetch(io_, *transport, SignedPost(fake->LogsUrl(), R"([{"id":"e3"}])"));
  EXPECT_EQ(accepted.status, 200);
  EXPECT_EQ(accepted.Header("retry-after"), "");
}

TEST_F(CurlTransportTest, DestroyingCancelsEveryRequestOnce) {
  auto fake = StartFake({"--timeout-rate", "1"});
  ASSERT_NE(fake, nullptr);
  constexpr int kRequests = 20;
  std::vector<int> calls(kRequests, 0);
  std::vector<HttpResponse> answers(kRequests);
  auto transport = MakeTransport();
  auto observer = MakeTransport();
  for (int i = 0; i < kRequests; ++i) {
    transport->Send(SignedPost(fake->LogsUrl(), R"([{"id":"e"}])"),
                    [&, i](HttpResponse r) {
                      ++calls[i];
                      answers[i] = std::move(r);
                    });
  }
  // Wait until every request sits at the receiver, so the transport has
  // live connections, pending socket waits and a timer when it goes.
  ASSERT_TRUE(RunUntil(
      io_, [&] { return JsonInt(Stats(*observer, *fake), "in_flight") == kRequests; }));
  EXPECT_EQ(transport->InFlight(), static_cast<size_t>(kRequests));
  transport.reset();
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_EQ(calls[i], 1) << i;
    EXPECT_EQ(answers[i].status, 0);
    EXPECT_EQ(answers[i].transport_error, "cancelled");
  }
  // Stale socket and timer handlers still queued must do nothing.
  io_.restart();
  io_.poll();
  for (int i = 0; i < kRequests; ++i) EXPECT_EQ(calls[i], 1) << i;
}

TEST_F(CurlTransportTest, CallbackMayDestroyTheTransport) {
  auto fake = StartFake({"--timeout-rate", "1"});
  ASSERT_NE(fake, nullptr);
  std::vector<std::string> errors;
  bool destroyed = false;
  auto transport = MakeTransport();
  // Never answered: cancelled when the transport goes.
  for (int i = 0; i < 3; ++i) {
    transport->Send(SignedPost(fake->LogsUrl(), "[]"),
                    [&](HttpResponse r) { errors.push_back(r.transport_error); });
  }
  // Answered at once (only /api/logs never answers); its callback, run from
  // the transport's completion loop, destroys the transport.
  HttpRequest stats;
  stats.method = "GET";
  stats.url = fake->Url("/stats");
  transport->Send(stats, [&](HttpResponse r) {
    EXPECT_EQ(r.status, 200);
    transport.reset();
    destroyed = true;
  });
  ASSERT_TRUE(RunUntil(io_, [&] { return destroyed; }));
  EXPECT_EQ(errors, std::vector<std::string>(3, "cancelled"));
  io_.restart();
  io_.poll();
  EXPECT_EQ(errors.size(), 3u);
}

TEST_F(CurlTransportTest, RequestsThatCannotStartFailLaterNotInsideSend) {
  std::optional<HttpResponse> scheme_answer;
  std::optional<HttpResponse> header_answer;
  auto transport = MakeTransport();
  HttpRequest bad_scheme;
  bad_scheme.url = "gopher://127.0.0.1:1/";
  transport->Send(bad_scheme, [&](HttpResponse r) { scheme_answer = std::move(r); });
  HttpRequest bad_header;
  bad_header.url = "http://127.0.0.1:1/";
  bad_header.headers = {{"X-Evil", "a\r\nInjected: 1"}};
  transport->Send(bad_header, [&](HttpResponse r) { header_answer = std::move(r); });
  EXPECT_FALSE(scheme_answer.has_value());
  EXPECT_FALSE(header_answer.has_value());
  ASSERT_TRUE(RunUntil(io_, [&] { return scheme_answer && header_answer; }));
  EXPECT_EQ(scheme_answer->status, 0);
  EXPECT_THAT(scheme_answer->transport_error, HasSubstr("protocol"));
  EXPECT_EQ(header_answer->status, 0);
  EXPECT_THAT(header_answer->transport_error, HasSubstr("bad header"));
}

TEST_F(CurlTransportTest, ResolveOverridesMapWorkspaceHostsToTheReceiver) {
  auto fake = StartFake();
  ASSERT_NE(fake, nullptr);
  const std::string host = absl::StrCat(testing::kWorkspace, ".ods.opinsights.test");
  TransportOptions options;
  options.resolve = {absl::StrCat(host, ":", fake->port(), ":127.0.0.1")};
  auto transport = MakeTransport(options);
  const std::string url = absl::StrCat("http://", host, ":", fake->port(),
                                       "/api/logs?api-version=2016-04-01");
  HttpResponse response = Fetch(io_, *transport, SignedPost(url, R"([{"id":"e1"}])"));
  EXPECT_EQ(response.status, 200) << response.transport_error << response.body;
  // The receiver checks the Host's first label against Authorization.
  HttpResponse other =
      Fetch(io_, *transport,
            SignedPost(url, R"([{"id":"e1"}])", "create_user",
                       "11111111-2222-3333-4444-555555555555", testing::kKey));
  EXPECT_EQ(other.status, 403);
}

TEST_F(CurlTransportTest, WildcardConnectToSendsEveryHostToTheReceiver) {
  auto fake = StartFake();
  ASSERT_NE(fake, nullptr);
  TransportOptions options;
  options.connect_to = {absl::StrCat("::127.0.0.1:", fake->port())};
  auto transport = MakeTransport(options);
  // Neither the name nor the port exists; the Host header keeps both.
  const std::string url = absl::StrCat("http://", testing::kWorkspace,
                                       ".ods.opinsights.test:9/api/logs?api-version=2016-04-01");
  HttpResponse response = Fetch(io_, *transport, SignedPost(url, R"([{"id":"e1"}])"));
  EXPECT_EQ(response.status, 200) << response.transport_error << response.body;
  HttpResponse other =
      Fetch(io_, *transport,
            SignedPost(url, R"([{"id":"e1"}])", "create_user",
                       "11111111-2222-3333-4444-555555555555", testing::kKey));
  EXPECT_EQ(other.status, 403);
}

TEST_F(CurlTransportTest, ResponseBodyIsCapped) {
  auto fake = StartFake();
  ASSERT_NE(fake, nullptr);
  TransportOptions options;
  options.max_response_body = 10;
  auto transport = MakeTransport(options);
  HttpRequest request;
  request.method = "GET";
  request.url = fake->Url("/nowhere");
  HttpResponse response = Fetch(io_, *transport, std::move(request));
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body, R"({"Error":")");
}

// HTTPS with a certificate made by the openssl CLI, trusted via ca_file.
TEST_F(CurlTransportTest, TlsVerifiesAgainstTheConfiguredCa) {
  testing::TempDir dir;
  const std::string cert = dir.Path("cert.pem");
  const std::string key = dir.Path("key.pem");
  const std::string command = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout ",
      key, " -out ", cert, " >/dev/null 2>&1");
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  auto fake = StartFake({"--tls-cert", cert, "--tls-key", key});
  ASSERT_NE(fake, nullptr);
  const std::string url = absl::StrCat("https://127.0.0.1:", fake->port(),
                                       "/api/logs?api-version=2016-04-01");

  TransportOptions trusted;
  trusted.ca_file = cert;
  auto transport = MakeTransport(trusted);
  HttpResponse response = Fetch(io_, *transport, SignedPost(url, R"([{"id":"tls"}])"));
  EXPECT_EQ(response.status, 200) << response.transport_error;
  ASSERT_EQ(fake->WaitForRecords(1).size(), 1u);

  auto untrusting = MakeTransport();  // system trust store: self-signed fails
  HttpResponse refused = Fetch(io_, *untrusting, SignedPost(url, R"([{"id":"x"}])"));
  EXPECT_EQ(refused.status, 0);
  EXPECT_THAT(refused.transport_error, HasSubstr("certificate"));
}

}  // namespace
}  // namespace outboxd
