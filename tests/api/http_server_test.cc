#include "api/http_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/fake_service.h"
#include "api/handler.h"
#include "api/http_test_client.h"
#include "api/worker_pool.h"
#include "gtest/gtest.h"

namespace outboxd {
namespace {

constexpr char kIngest[] = "ingest-token";
constexpr char kAdmin[] = "admin-token";
constexpr uint64_t kMaxBody = 4096;

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string Hit(int n) {
  return absl::StrCat(
      R"({"id":"e)", n,
      R"(","company_id":7,"event_type":"hit","occurred_at":"2024-05-01T12:00:00Z"})");
}

Headers Auth(const char* token, std::string content_type = "application/x-ndjson") {
  return {{"Authorization", absl::StrCat("Bearer ", token)},
          {"Content-Type", content_type}};
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = std::make_unique<WorkerPool>(4, 256);
    handler_ = std::make_unique<Handler>(&service_, pool_.get(), &clock_,
                                         HandlerOptions{kIngest, kAdmin, false, {}});
    HttpServerOptions options;
    options.max_body_bytes = max_body_;
    options.read_timeout = read_timeout_;
    options.io_threads = 2;
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start(options, handler_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_NE(server_->port(), 0);
  }

  void TearDown() override {
    service_.HoldIngest(false);
    server_->Stop(std::chrono::seconds(5));
    pool_->Stop();
  }

  HttpReply Post(TestClient& client, std::string target, std::string body,
                 const char* token = kIngest) {
    return client.Send("POST", target, std::move(body), Auth(token));
  }

  uint64_t max_body_ = kMaxBody;
  std::chrono::milliseconds read_timeout_{30'000};
  FakeService service_;
  FakeClock clock_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, IngestOverTheWire) {
  TestClient client(server_->port());
  ASSERT_TRUE(client.connected());
  HttpReply r = Post(client, "/v1/events", absl::StrCat(Hit(1), "\n", Hit(2), "\n"));
  EXPECT_EQ(r.status, 202) << r.error;
  EXPECT_EQ(r.body, R"({"accepted":2,"deliveries":4})");
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  EXPECT_EQ(r.Header("Server"), "outboxd");
  EXPECT_EQ(service_.events().size(), 2u);
}

TEST_F(HttpServerTest, WrongTokenIs401) {
  TestClient client(server_->port());
  HttpReply r = Post(client, "/v1/events", Hit(1), "nope");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Header("WWW-Authenticate"), "Bearer");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_TRUE(service_.events().empty());
}

TEST_F(HttpServerTest, BadEventIs400WithLineAndField) {
  TestClient client(server_->port());
  HttpReply r =
      client.Send("POST", "/v1/events",
                  absl::StrCat("[", Hit(1), ",", R"({"id":"x","company_id":"7"})", "]"),
                  Auth(kIngest, "application/json"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            R"({"error":"must be a positive integer","line":2,"field":"company_id"})");
}

TEST_F(HttpServerTest, BodyOverTheLimitIs413) {
  TestClient client(server_->port());
  std::string body;
  for (int i = 0; body.size() <= kMaxBody; ++i) absl::StrAppend(&body, Hit(i), "\n");
  HttpReply r = Post(client, "/v1/events", body);
  EXPECT_EQ(r.status, 413) << r.error;
  EXPECT_EQ(r.body,
            absl::StrCat(R"({"error":"body is larger than )", kMaxBody, R"( bytes"})"));
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(client.ServerClosed());
  EXPECT_TRUE(service_.events().empty());

  // At the limit exactly: accepted.
  TestClient again(server_->port());
  std::string exact = Hit(1);
  exact.append(kMaxBody - exact.size(), '\n');
  r = Post(again, "/v1/events", exact);
  EXPECT_EQ(r.status, 202) << r.error;
}

TEST_F(HttpServerTest, ExpectContinue) {
  // Over the limit: 413 before the body is sent.
  TestClient big(server_->port());
  ASSERT_TRUE(big.WriteRaw(absl::StrCat(
      "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ", kIngest,
      "\r\nContent-Length: ", kMaxBody + 1, "\r\nExpect: 100-continue\r\n\r\n")));
  HttpReply r = big.Read();
  EXPECT_EQ(r.status, 413) << r.error;

  // Within it: 100 Continue, then the answer.
  TestClient small(server_->port());
  const std::string body = Hit(1);
  ASSERT_TRUE(small.WriteRaw(absl::StrCat(
      "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ", kIngest,
      "\r\nContent-Length: ", body.size(), "\r\nExpect: 100-continue\r\n\r\n")));
  r = small.Read();
  EXPECT_EQ(r.status, 100) << r.error;
  ASSERT_TRUE(small.WriteRaw(body));
  r = small.Read();
  EXPECT_EQ(r.status, 202) << r.error;
}

TEST_F(HttpServerTest, MalformedRequestIs400) {
  TestClient client(server_->port());
  ASSERT_TRUE(client.WriteRaw("GARBAGE\r\n\r\n"));
  HttpReply r = client.Read();
  EXPECT_EQ(r.status, 400) << r.error;
  EXPECT_EQ(r.body, R"({"error":"malformed HTTP request"})");
  EXPECT_TRUE(client.ServerClosed());
}

TEST_F(HttpServerTest, ManagementPaths) {
  TestClient client(server_->port());
  const std::string create =
      R"({"company_id":7,"name":"SOC","kind":"sentinel","workspace_id":"0b0f5c3e-6a0f-4f55-9a3c-2f1d2b3c4d5e",)"
      R"("primary_key":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="})";
  HttpReply r =
      client.Send("POST", "/v1/integrations", create, Auth(kAdmin, "application/json"));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Header("Location"), "/v1/integrations/1");
  r = client.Send("GET", "/v1/integrations/1", "", Auth(kAdmin));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(absl::StrContains(r.body, R"("primary_key":"********")"));
  r = client.Send("POST", "/v1/integrations/1/test", "", Auth(kAdmin));
  EXPECT_EQ(r.status, 200);  // answered from the fake's own thread
  EXPECT_EQ(
      r.body,
      R"({"ok":true,"status":200,"error_code":"","message":"accepted","latency_ms":42})");
  r = client.Send("DELETE", "/v1/integrations/1", "", Auth(kAdmin));
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.Header("Content-Length"), "0");
  r = client.Send("GET", "/v1/integrations/1", "", Auth(kAdmin));
  EXPECT_EQ(r.status, 404);
  r = client.Send("GET", "/v1/nowhere", "", Auth(kAdmin));
  EXPECT_EQ(r.status, 404);
  r = client.Send("PUT", "/v1/integrations", "", Auth(kAdmin));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("Allow"), "GET, POST");
  r = client.Send("GET", "/metrics", "", Auth(kAdmin));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  r = client.Send("GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"ok"})");
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  TestClient client(server_->port());
  for (int i = 0; i < 5; ++i) {
    HttpReply r = Post(client, "/v1/events", Hit(i));
    ASSERT_EQ(r.status, 202) << i << ": " << r.error;
    EXPECT_TRUE(r.keep_alive);
  }
  EXPECT_EQ(service_.events().size(), 5u);
}

TEST_F(HttpServerTest, Http10WithoutKeepAliveIsClosed) {
  TestClient client(server_->port());
  HttpReply r = client.Send("GET", "/healthz", "", {}, /*version=*/10);
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(client.ServerClosed());
}

TEST_F(HttpServerTest, ConcurrentClients) {
  constexpr int kClients = 8;
  constexpr int kRequests = 25;
  constexpr int kEventsPerRequest = 4;
  std::atomic<int> accepted{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([this, c, &accepted] {
      TestClient client(server_->port());
      for (int i = 0; i < kRequests; ++i) {
        std::string body;
        for (int e = 0; e < kEventsPerRequest; ++e) {
          absl::StrAppend(&body, Hit((c * kRequests + i) * kEventsPerRequest + e), "\n");
        }
        HttpReply r = Post(client, "/v1/events", body);
        if (r.status == 202 && r.body == R"({"accepted":4,"deliveries":8})")
          accepted.fetch_add(1);
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(accepted.load(), kClients * kRequests);
  std::vector<ParsedEvent> events = service_.events();
  ASSERT_EQ(events.size(), size_t{kClients * kRequests * kEventsPerRequest});
  std::set<std::string> ids;
  for (const ParsedEvent& e : events) ids.insert(e.id);
  EXPECT_EQ(ids.size(), events.size());
}

TEST_F(HttpServerTest, GracefulStopFinishesRequestsInFlight) {
  service_.HoldIngest(true);
  HttpReply reply;
  std::thread client([this, &reply] {
    TestClient c(server_->port());
    reply = Post(c, "/v1/events", Hit(1));
  });
  service_.AwaitIngestCalls(1);  // the request is read and in the service
  TestClient idle(server_->port());
  ASSERT_TRUE(idle.connected());
  ASSERT_EQ(idle.Send("GET", "/healthz").status, 200);

  std::thread stopper([this] { server_->Stop(std::chrono::seconds(30)); });
  EXPECT_TRUE(idle.ServerClosed());  // idle connections are closed at once
  service_.HoldIngest(false);
  client.join();
  stopper.join();
  EXPECT_EQ(reply.status, 202) << reply.error;
  EXPECT_FALSE(reply.keep_alive);  // "Connection: close" while stopping
  EXPECT_EQ(service_.events().size(), 1u);
  TestClient late(server_->port());
  EXPECT_FALSE(late.connected() && late.Send("GET", "/healthz").status == 200);
}

TEST_F(HttpServerTest, StopAfterGraceDropsLateResponses) {
  service_.HoldIngest(true);
  HttpReply reply;
  std::thread client([this, &reply] {
    TestClient c(server_->port());
    reply = Post(c, "/v1/events", Hit(1));
  });
  service_.AwaitIngestCalls(1);
  server_->Stop(std::chrono::milliseconds(0));
  client.join();  // the connection was closed without an answer
  EXPECT_EQ(reply.status, 0);
  service_.HoldIngest(false);  // the worker finishes; its response goes nowhere
  pool_->Stop();
  EXPECT_EQ(service_.events().size(), 1u);
}

// Bodies above 4 KiB of known length are read straight into the request
// (with the socket's low-water mark raised); these run that path.
class HttpServerLargeBodyTest : public HttpServerTest {
 protected:
  HttpServerLargeBodyTest() { max_body_ = 4 << 20; }

  // `n` hits, one per line: ~100 bytes each.
  static std::string Hits(int first, int n) {
    std::string body;
    for (int i = first; i < first + n; ++i) absl::StrAppend(&body, Hit(i), "\n");
    return body;
  }

  // A request whose body is sent with Transfer-Encoding: chunked, in chunks
  // of 1 byte to ~70 KB: Beast decodes it, not the large-body path.
  static std::string Chunked(const std::string& body, uint32_t seed) {
    std::string request =
        absl::StrCat("POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ",
                     kIngest, "\r\nContent-Type: application/x-ndjson\r\n",
                     "Transfer-Encoding: chunked\r\n\r\n");
    std::mt19937 rng(seed);
    for (size_t at = 0; at < body.size();) {
      const size_t n = std::min<size_t>(body.size() - at, 1 + rng() % 70'000);
      absl::StrAppend(&request, absl::Hex(n), "\r\n", body.substr(at, n), "\r\n");
      at += n;
    }
    return request + "0\r\n\r\n";
  }

  // Writes `request` in pieces of 1 byte to ~300 KB, pausing now and then,
  // so the server's reads end anywhere: inside a header or a chunk's size
  // line, at a header's end, on both sides of the 256 KiB low-water mark.
  static bool WriteInUnevenPieces(TestClient& client, const std::string& request,
                                  uint32_t seed) {
    std::mt19937 rng(seed);
    for (size_t at = 0; at < request.size();) {
      const size_t piece =
          std::min<size_t>(request.size() - at, 1 + rng() % (rng() % 2 ? 300'000 : 64));
      if (!client.WriteRaw(request.substr(at, piece))) return false;
      at += piece;
      if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  static std::string Head(size_t content_length) {
    return absl::StrCat("POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ",
                        kIngest, "\r\nContent-Type: application/x-ndjson\r\n",
                        "Content-Length: ", content_length, "\r\n\r\n");
  }

  // The ids the service received, in order.
  std::vector<std::string> ReceivedIds() {
    std::vector<std::string> ids;
    for (const ParsedEvent& e : service_.events()) ids.push_back(e.id);
    return ids;
  }

  static std::vector<std::string> Ids(int first, int n) {
    std::vector<std::string> ids;
    for (int i = first; i < first + n; ++i) ids.push_back(absl::StrCat("e", i));
    return ids;
  }
};

TEST_F(HttpServerLargeBodyTest, BodyArrivingInUnevenPiecesIsReadWhole) {
  const std::string body = Hits(0, 20'000);  // ~2 MB
  const std::string request = Head(body.size()) + body;
  TestClient client(server_->port());
  ASSERT_TRUE(WriteInUnevenPieces(client, request, 3));
  HttpReply r = client.Read();
  ASSERT_EQ(r.status, 202) << r.error << r.body;
  EXPECT_EQ(r.body, R"({"accepted":20000,"deliveries":40000})");
  EXPECT_EQ(ReceivedIds(), Ids(0, 20'000));
}

TEST_F(HttpServerLargeBodyTest, PipelinedRequestAfterALargeBodyIsServedToo) {
  const std::string first = Hits(0, 1'000);
  const std::string second = Hits(1'000, 3);
  TestClient client(server_->port());
  ASSERT_TRUE(client.WriteRaw(Head(first.size()) + first + Head(second.size()) + second));
  HttpReply r = client.Read();
  EXPECT_EQ(r.status, 202) << r.error;
  r = client.Read();
  EXPECT_EQ(r.status, 202) << r.error;
  EXPECT_EQ(r.body, R"({"accepted":3,"deliveries":6})");
  EXPECT_EQ(ReceivedIds(), Ids(0, 1'003));
}

TEST_F(HttpServerLargeBodyTest, ChunkedBodyIsReadWhole) {
  const std::string body = Hits(0, 10'000);  // ~1 MB
  const std::string request = Chunked(body, 5);
  TestClient client(server_->port());
  ASSERT_TRUE(WriteInUnevenPieces(client, request, 7));
  HttpReply r = client.Read();
  ASSERT_EQ(r.status, 202) << r.error << r.body;
  EXPECT_EQ(r.body, R"({"accepted":10000,"deliveries":20000})");
  EXPECT_EQ(ReceivedIds(), Ids(0, 10'000));
}

// After a chunked body the connection's read buffer is larger: a pipelined
// request that follows, of known length, is still cut where it begins.
TEST_F(HttpServerLargeBodyTest, PipelinedRequestsAfterAChunkedBodyAreServedToo) {
  const std::string first = Hits(0, 2'000);
  const std::string second = Hits(2'000, 1'000);  // the large-body path
  const std::string third = Hit(3'000) + "\n";    // Beast's small-body path
  TestClient client(server_->port());
  ASSERT_TRUE(client.WriteRaw(Chunked(first, 9) + Head(second.size()) + second +
                              Head(third.size()) + third));
  for (const char* want :
       {R"({"accepted":2000,"deliveries":4000})",
        R"({"accepted":1000,"deliveries":2000})", R"({"accepted":1,"deliveries":2})"}) {
    HttpReply r = client.Read();
    ASSERT_EQ(r.status, 202) << r.error;
    EXPECT_EQ(r.body, want);
  }
  EXPECT_EQ(ReceivedIds(), Ids(0, 3'001));
}

TEST_F(HttpServerLargeBodyTest, ChunkedBodyOverTheLimitIs413) {
  std::string body;  // a line over the limit
  for (int i = 0; body.size() <= max_body_; ++i) absl::StrAppend(&body, Hit(i), "\n");
  TestClient client(server_->port());
  ASSERT_TRUE(client.WriteRaw(Chunked(body, 11)));
  HttpReply r = client.Read();
  EXPECT_EQ(r.status, 413) << r.error;
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(service_.events().empty());
}

// The low-water mark goes back to 1 byte: a small request after a large one
// on the same connection is answered, not left waiting for 256 KiB.
TEST_F(HttpServerLargeBodyTest, SmallRequestAfterALargeOneIsAnswered) {
  TestClient client(server_->port());
  HttpReply r = Post(client, "/v1/events", Hits(0, 10'000));
  ASSERT_EQ(r.status, 202) << r.error;
  r = Post(client, "/v1/events", Hit(10'000));
  ASSERT_EQ(r.status, 202) << r.error;
  r = client.Send("GET", "/healthz");
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(ReceivedIds(), Ids(0, 10'001));
}

TEST_F(HttpServerLargeBodyTest, BodyCutShortIsDroppedAndTheConnectionClosed) {
  const std::string body = Hits(0, 5'000);
  TestClient client(server_->port());
  ASSERT_TRUE(client.WriteRaw(Head(body.size()) + body.substr(0, body.size() / 2)));
  client.ShutdownSend();
  EXPECT_TRUE(client.ServerClosed());
  EXPECT_TRUE(service_.events().empty());

  TestClient next(server_->port());
  EXPECT_EQ(Post(next, "/v1/events", Hits(0, 100)).status, 202);
}

// A sender that stops mid-body is cut off by the read timeout, not held
// open, and nothing of its request reaches the service.
class HttpServerStalledBodyTest : public HttpServerLargeBodyTest {
 protected:
  HttpServerStalledBodyTest() { read_timeout_ = std::chrono::milliseconds(300); }
};

TEST_F(HttpServerStalledBodyTest, StalledLargeBodyTimesOut) {
  const std::string body = Hits(0, 5'000);
  TestClient client(server_->port());
  ASSERT_TRUE(client.WriteRaw(Head(body.size()) + body.substr(0, body.size() / 2)));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.ServerClosed());  // within the client's 10 s
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
  EXPECT_TRUE(service_.events().empty());
}

TEST_F(HttpServerLargeBodyTest, BodyOverTheLimitIs413BeforeItIsRead) {
  TestClient client(server_->port());
  ASSERT_TRUE(client.WriteRaw(Head(max_body_ + 1) + Hits(0, 100)));
  HttpReply r = client.Read();
  EXPECT_EQ(r.status, 413) << r.error;
  EXPECT_TRUE(service_.events().empty());
}

TEST(HttpServerStartTest, ReportsBindErrors) {
  FakeService service;
  FakeClock clock;
  WorkerPool pool(1, 1);
  Handler handler(&service, &pool, &clock, {});
  HttpServerOptions options;
  options.host = "256.0.0.1";
  EXPECT_FALSE(HttpServer::Start(options, &handler).ok());
  options.host = "127.0.0.1";
  absl::StatusOr<std::unique_ptr<HttpServer>> first =
      HttpServer::Start(options, &handler);
  ASSERT_TRUE(first.ok());
  options.port = (*first)->port();
  absl::StatusOr<std::unique_ptr<HttpServer>> second =
      HttpServer::Start(options, &handler);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace outboxd
