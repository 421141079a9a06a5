#include "api/handler.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/fake_service.h"
#include "api/notification.h"
#include "gtest/gtest.h"

namespace outboxd {
namespace {

constexpr char kIngest[] = "ingest-token";
constexpr char kAdmin[] = "admin-token";
constexpr char kGuid[] = "0b0f5c3e-6a0f-4f55-9a3c-2f1d2b3c4d5e";
// python3 -c 'import base64; print(base64.b64encode(bytes(range(32))).decode())'
constexpr char kKey[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

class InlineExecutor final : public Executor {
 public:
  bool TrySubmit(absl::AnyInvocable<void() &&> task) override {
    if (full) return false;
    std::move(task)();
    return true;
  }
  bool full = false;
};

std::string Hit(absl::string_view id) {
  return absl::StrCat(
      R"({"id":")", id,
      R"(","company_id":7,"event_type":"hit","occurred_at":"2024-05-01T12:00:00Z"})");
}

std::string CreateBody() {
  return absl::StrCat(
      R"({"company_id":7,"name":"SOC","kind":"sentinel","workspace_id":")", kGuid,
      R"(","primary_key":")", kKey, R"(","events":{"hits":true}})");
}

class HandlerTest : public ::testing::Test {
 protected:
  HandlerTest()
      : clock_(1'714'564'800'000),
        handler_(&service_, &executor_, &clock_, {kIngest, kAdmin, false, {}}) {}

  // Sends a request and waits (bounded) for its response.
  Response Call(std::string method, std::string target, std::string body = "",
                std::string token = "", std::string content_encoding = "") {
    Request req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.body = std::move(body);
    req.content_encoding = std::move(content_encoding);
    if (!token.empty()) req.authorization = absl::StrCat("Bearer ", token);
    auto done = std::make_shared<Notification>();
    auto out = std::make_shared<Response>();
    handler_.Handle(std::move(req), [done, out](Response r) {
      *out = std::move(r);
      done->Notify();
    });
    EXPECT_TRUE(done->WaitFor(std::chrono::seconds(10)));
    return *out;
  }
  Response Admin(std::string method, std::string target, std::string body = "") {
    return Call(std::move(method), std::move(target), std::move(body), kAdmin);
  }

  static std::string HeaderOf(const Response& r, std::string_view name) {
    for (const auto& [n, v] : r.headers) {
      if (n == name) return v;
    }
    return "";
  }

  FakeService service_;
  InlineExecutor executor_;
  FakeClock clock_;
  Handler handler_;
};

TEST_F(HandlerTest, TokensGuardTheirEndpoints) {
  for (const std::string& token :
       {std::string(""), std::string("wrong"), std::string(kAdmin)}) {
    Response r = Call("POST", "/v1/events", Hit("a"), token);
    EXPECT_EQ(r.status, 401) << token;
    EXPECT_EQ(r.body, R"({"error":"missing or invalid bearer token"})");
    EXPECT_EQ(HeaderOf(r, "WWW-Authenticate"), "Bearer");
  }
  EXPECT_EQ(Call("GET", "/v1/integrations", "", kIngest).status, 401);
  EXPECT_EQ(Call("GET", "/metrics", "", kIngest).status, 401);
  EXPECT_EQ(Call("GET", "/v1/integrations", "", absl::StrCat(kAdmin, "x")).status, 401);
  EXPECT_EQ(Call("GET", "/v1/integrations", "", "admin-toke").status, 401);
  EXPECT_EQ(Call("GET", "/v1/integrations", "", kAdmin).status, 200);
  EXPECT_TRUE(service_.events().empty());

  Request lower;
  lower.method = "GET";
  lower.target = "/v1/integrations";
  lower.authorization = absl::StrCat("bearer   ", kAdmin);
  int status = 0;
  handler_.Handle(lower, [&status](Response r) { status = r.status; });
  EXPECT_EQ(status, 200);
}

TEST_F(HandlerTest, EmptyConfiguredTokenRefusesEveryone) {
  Handler open(&service_, &executor_, &clock_, {"", "", false, {}});
  for (const char* auth : {"", "Bearer ", "Bearer  "}) {
    Request req;
    req.method = "POST";
    req.target = "/v1/events";
    req.authorization = auth;
    req.body = Hit("a");
    int status = 0;
    open.Handle(req, [&status](Response r) { status = r.status; });
    EXPECT_EQ(status, 401) << auth;
  }
}

TEST_F(HandlerTest, HealthzIsOpen) {
  Response r = Call("GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"ok"})");
  service_.SetHealthy(false);
  EXPECT_EQ(Call("GET", "/healthz").status, 503);
}

TEST_F(HandlerTest, UnknownPathsAndMethods) {
  for (const char* path :
       {"/", "/v1", "/v1/event", "/v1/integrations/abc", "/v1/integrations/0",
        "/v1/integrations/1/explode", "/v1/integrations/1/stats/x",
        "/v1/integrations/99999999999999999999999"}) {
    EXPECT_EQ(Admin("GET", path).status, 404) << path;
  }
  Response r = Call("GET", "/v1/events", "", kIngest);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(HeaderOf(r, "Allow"), "POST");
  r = Admin("PUT", "/v1/integrations/1");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(HeaderOf(r, "Allow"), "GET, PATCH, DELETE");
  EXPECT_EQ(Admin("DELETE", "/v1/integrations").status, 405);
  EXPECT_EQ(Admin("GET", "/v1/integrations/1/test").status, 405);
}

TEST_F(HandlerTest, IngestAnswers202WithCounts) {
  Response r =
      Call("POST", "/v1/events?x=1", absl::StrCat(Hit("a"), "\n", Hit("b")), kIngest);
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, R"({"accepted":2,"deliveries":4})");
  ASSERT_EQ(service_.events().size(), 2u);
  EXPECT_EQ(service_.events()[1].raw, Hit("b"));

  r = Call("POST", "/v1/events", absl::StrCat("[", Hit("c"), "]"), kIngest);
  EXPECT_EQ(r.body, R"({"accepted":1,"deliveries":2})");
  r = Call("POST", "/v1/events", "", kIngest);
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body, R"({"accepted":0,"deliveries":0})");
}

TEST_F(HandlerTest, IngestErrorsNameLineAndField) {
  Response r =
      Call("POST", "/v1/events",
           absl::StrCat(Hit("a"), "\n", R"({"id":"b","company_id":7})"), kIngest);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"error":"is required","line":2,"field":"event_type"})");
  r = Call("POST", "/v1/events", absl::StrCat(Hit("a"), "\n\nnot json"), kIngest);
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(absl::StrContains(r.body, R"("line":3,"field":null})")) << r.body;
  EXPECT_TRUE(service_.events().empty());
}

// One parse at a time, requests from several threads, good and bad bodies:
// every request is answered (a slot not given back on some path would block
// the next request until the bounded wait fails).
TEST(HandlerParseSlotsTest, EveryIngestIsAnsweredWithOneParseSlot) {
  FakeService service;
  InlineExecutor executor;
  FakeClock clock(1'714'564'800'000);
  HandlerOptions options{kIngest, kAdmin, false, {}};
  options.max_concurrent_parses = 1;
  Handler handler(&service, &executor, &clock, options);
  std::atomic<int> accepted{0}, refused{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        Request req;
        req.method = "POST";
        req.target = "/v1/events";
        req.authorization = absl::StrCat("Bearer ", kIngest);
        req.body = (i % 3 == 0) ? "not json" : Hit(absl::StrCat(t, "-", i));
        auto done = std::make_shared<Notification>();
        auto status = std::make_shared<int>(0);
        handler.Handle(std::move(req), [done, status](Response r) {
          *status = r.status;
          done->Notify();
        });
        ASSERT_TRUE(done->WaitFor(std::chrono::seconds(10))) << t << " " << i;
        (*status == 202 ? accepted : refused).fetch_add(1);
      }
    });
  }
  for (std::thread& c : clients) c.join();
  EXPECT_EQ(accepted.load(), 4 * 33);
  EXPECT_EQ(refused.load(), 4 * 17);
}

TEST_F(HandlerTest, IngestRefusesCompressedBodies) {
  EXPECT_EQ(Call("POST", "/v1/events", Hit("a"), kIngest, "gzip").status, 415);
  EXPECT_EQ(Call("POST", "/v1/events", Hit("a"), kIngest, "identity").status, 202);
}

TEST_F(HandlerTest, StoreFullIs503WithRetryAfter) {
  service_.SetIngestStatus(absl::ResourceExhaustedError("outbox is full"));
  Response r = Call("POST", "/v1/events", Hit("a"), kIngest);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, R"({"error":"outbox is full","retry_after_s":1})");
  EXPECT_EQ(HeaderOf(r, "Retry-After"), "1");
  service_.SetIngestStatus(absl::InternalError("disk on fire"));
  EXPECT_EQ(Call("POST", "/v1/events", Hit("a"), kIngest).status, 500);
}

TEST_F(HandlerTest, FullExecutorIs503) {
  executor_.full = true;
  Response r = Call("POST", "/v1/events", Hit("a"), kIngest);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(HeaderOf(r, "Retry-After"), "1");
  EXPECT_EQ(Admin("GET", "/v1/integrations").status, 503);
  EXPECT_EQ(Call("GET", "/healthz").status, 200);  // never queued
  executor_.full = false;
  Response m = Admin("GET", "/metrics");
  EXPECT_TRUE(absl::StrContains(m.body, "outboxd_api_busy_rejections_total 2\n"))
      << m.body;
}

TEST_F(HandlerTest, RequestCounts) {
  Response r =
      Call("POST", "/v1/request-counts",
           R"({"company_id":7,"count":1500,"at":"2024-05-01T13:30:00+01:00"})", kIngest);
  EXPECT_EQ(r.status, 202);
  r = Call("POST", "/v1/request-counts", R"({"company_id":8,"count":0})", kIngest);
  EXPECT_EQ(r.status, 202);
  auto counts = service_.request_counts();
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts[0].company_id, 7u);
  EXPECT_EQ(counts[0].count, 1500u);
  EXPECT_EQ(counts[0].at, 1714566600000);   // 12:30Z
  EXPECT_EQ(counts[1].at, clock_.NowMs());  // "at" defaults to now

  struct Bad {
    const char* body;
    const char* field;
  };
  for (const Bad& bad :
       {Bad{R"({"count":1})", "company_id"}, Bad{R"({"company_id":7})", "count"},
        Bad{R"({"company_id":-1,"count":1})", "company_id"},
        Bad{R"({"company_id":7,"count":1.5})", "count"},
        Bad{R"({"company_id":7,"count":1,"at":"noon"})", "at"},
        Bad{R"({"company_id":7,"count":1,"count":2})", "count"},
        Bad{R"({"company_id":7,"count":1,"hour":3})", "hour"}}) {
    r = Call("POST", "/v1/request-counts", bad.body, kIngest);
    EXPECT_EQ(r.status, 400) << bad.body;
    EXPECT_TRUE(absl::StrContains(r.body, absl::StrCat("\"field\":\"", bad.field, "\"")))
        << r.body;
  }
  r = Call("POST", "/v1/request-counts", "[1]", kIngest);
  EXPECT_EQ(r.body, R"({"error":"body must be a JSON object","field":null})");
}

TEST_F(HandlerTest, IntegrationLifecycle) {
  Response r = Admin("POST", "/v1/integrations", CreateBody());
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(HeaderOf(r, "Location"), "/v1/integrations/1");
  EXPECT_TRUE(absl::StrContains(r.body, R"("id":1,)"));
  EXPECT_TRUE(absl::StrContains(r.body, R"("primary_key":"********")"));
  EXPECT_FALSE(absl::StrContains(r.body, kKey));

  r = Admin("GET", "/v1/integrations");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(absl::StartsWith(r.body, R"({"integrations":[{"id":1,)")) << r.body;

  r = Admin("PATCH", "/v1/integrations/1",
            R"({"name":"Renamed","primary_key":"********"})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, R"("name":"Renamed")"));
  EXPECT_EQ(service_.GetIntegration(1)->primary_key, kKey);
  EXPECT_EQ(service_.GetIntegration(1)->version, 2u);

  r = Admin("POST", "/v1/integrations/1/disable");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(absl::StrContains(r.body, R"("state":"disabled")"));
  r = Admin("POST", "/v1/integrations/1/enable");
  EXPECT_TRUE(absl::StrContains(r.body, R"("state":"enabled")"));

  r = Admin("DELETE", "/v1/integrations/1");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");
  r = Admin("GET", "/v1/integrations/1");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"error":"no integration 1"})");
  EXPECT_EQ(Admin("DELETE", "/v1/integrations/1").status, 404);
  EXPECT_EQ(Admin("PATCH", "/v1/integrations/1", "{}").status, 404);
  EXPECT_EQ(Admin("POST", "/v1/integrations/1/enable").status, 404);
}

TEST_F(HandlerTest, InvalidIntegrationBodiesName400Field) {
  Response r = Admin("POST", "/v1/integrations",
                     R"({"company_id":7,"name":"x","kind":"sentinel","bogus":1})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"error":"unknown field","field":"bogus"})");
  r = Admin("POST", "/v1/integrations", "{");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(absl::StrContains(r.body, R"("field":null)")) << r.body;
  ASSERT_EQ(Admin("POST", "/v1/integrations", CreateBody()).status, 201);
  r = Admin("PATCH", "/v1/integrations/1", R"({"events":{"hitz":true}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"error":"unknown event group","field":"events.hitz"})");
  r = Admin("PATCH", "/v1/integrations/1", R"({"endpoint":"http://127.0.0.1:1"})");
  EXPECT_EQ(r.status, 400);
}

TEST_F(HandlerTest, PatchRaceIs409) {
  ASSERT_EQ(Admin("POST", "/v1/integrations", CreateBody()).status, 201);
  // Another writer got in between the handler's read and its update.
  service_.SetUpdateStatus(
      absl::FailedPreconditionError("integration changed meanwhile"));
  Response r = Admin("PATCH", "/v1/integrations/1", R"({"name":"x"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.body, R"({"error":"integration changed meanwhile"})");
}

TEST_F(HandlerTest, StatsShape) {
  ASSERT_EQ(Admin("POST", "/v1/integrations", CreateBody()).status, 201);
  IntegrationStatsView s;
  s.state = IntegrationState::kBroken;
  s.queued = 12;
  s.oldest_due = 1'700'000'000'000;
  s.requests = 10;
  s.failures = 6;
  s.ratio = 0.6;
  service_.SetStats(s);
  Response r = Admin("GET", "/v1/integrations/1/stats");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            R"({"state":"broken","queued":12,"oldest_due":"2023-11-14T22:13:20.000Z",)"
            R"("window":{"requests":10,"failures":6,"ratio":0.6}})");
  service_.SetStats(IntegrationStatsView{});
  r = Admin("GET", "/v1/integrations/1/stats");
  EXPECT_EQ(r.body, R"({"state":"enabled","queued":0,"oldest_due":null,)"
                    R"("window":{"requests":0,"failures":0,"ratio":0}})");
  EXPECT_EQ(Admin("GET", "/v1/integrations/2/stats").status, 404);
}

TEST_F(HandlerTest, TestEndpointsAnswer200WithTheDestinationsAnswer) {
  service_.SetTestResult(
      TestResult{false, 403, "InvalidAuthorization", "bad signature", 87});
  Response r = Admin("POST", "/v1/integrations/test", CreateBody());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"ok":false,"status":403,"error_code":"InvalidAuthorization",)"
                    R"("message":"bad signature","latency_ms":87})");
  ASSERT_EQ(service_.tested().size(), 1u);
  EXPECT_EQ(service_.tested()[0].primary_key, kKey);
  EXPECT_EQ(service_.tested()[0].id, 0u);

  ASSERT_EQ(Admin("POST", "/v1/integrations", CreateBody()).status, 201);
  service_.SetTestResult(TestResult{true, 200, "", "", 5});
  r = Admin("POST", "/v1/integrations/1/test");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            R"({"ok":true,"status":200,"error_code":"","message":"","latency_ms":5})");
  EXPECT_EQ(service_.tested()[1].id, 1u);

  EXPECT_EQ(Admin("POST", "/v1/integrations/test", "{}").status, 400);
  EXPECT_EQ(Admin("POST", "/v1/integrations/9/test").status, 404);
  service_.SetTestResult(absl::UnimplementedError("sentinel_dcr is not supported yet"));
  EXPECT_EQ(Admin("POST", "/v1/integrations/1/test").status, 501);
}

DeadDelivery MakeDead(uint64_t seq, std::string event) {
  DeadDelivery d;
  d.delivery.key = {1, 1'700'000'000'000, seq};
  d.delivery.attempts = 3;
  d.delivery.first_enqueued_ms = 1'700'000'000'000;
  d.delivery.log_type = "new_hits";
  d.delivery.event = std::move(event);
  d.reason = "rejected: 400 \"InvalidDataFormat\"";
  d.died_ms = 1'700'000'060'000;
  return d;
}

TEST_F(HandlerTest, DeadListShowsEventsAsObjects) {
  ASSERT_EQ(Admin("POST", "/v1/integrations", CreateBody()).status, 201);
  EXPECT_EQ(Admin("GET", "/v1/integrations/1/dead").body, R"({"dead":[]})");
  service_.AddDead(1, MakeDead(7, Hit("h7")));
  service_.AddDead(1, MakeDead(9, Hit("h9")));
  Response r = Admin("GET", "/v1/integrations/1/dead?limit=1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            absl::StrCat(R"({"dead":[{"seq":7,"log_type":"new_hits",)",
                         R"("reason":"rejected: 400 \"InvalidDataFormat\"",)",
                         R"("died_at":"2023-11-14T22:14:20.000Z","attempts":3,)",
                         R"("first_enqueued_at":"2023-11-14T22:13:20.000Z","event":)",
                         Hit("h7"), "}]}"));
  r = Admin("GET", "/v1/integrations/1/dead?x=1&limit=10");
  EXPECT_TRUE(absl::StrContains(r.body, R"("seq":9)")) << r.body;

  for (const char* bad : {"0", "10001", "ten", ""}) {
    r = Admin("GET", absl::StrCat("/v1/integrations/1/dead?limit=", bad));
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.body,
              R"({"error":"must be a whole number from 1 to 10000","field":"limit"})");
  }
  EXPECT_EQ(Admin("GET", "/v1/integrations/5/dead").status, 404);
  EXPECT_EQ(Admin("POST", "/v1/integrations/1/dead").status, 405);
  EXPECT_EQ(Call("GET", "/v1/integrations/1/dead", "", kIngest).status, 401);
}

TEST_F(HandlerTest, DeadReplayAllOrChosenSeqs) {
  ASSERT_EQ(Admin("POST", "/v1/integrations", CreateBody()).status, 201);
  for (uint64_t seq : {3, 4, 5}) service_.AddDead(1, MakeDead(seq, Hit("h")));
  Response r = Admin("POST", "/v1/integrations/1/dead/replay", R"({"seqs":[4, 99]})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"replayed":1,"more":false})");
  r = Admin("POST", "/v1/integrations/1/dead/replay");
  EXPECT_EQ(r.body, R"({"replayed":2,"more":false})");
  EXPECT_EQ(Admin("POST", "/v1/integrations/1/dead/replay", " {} ").body,
            R"({"replayed":0,"more":false})");
  const std::vector<std::vector<uint64_t>> calls = service_.replay_calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0], (std::vector<uint64_t>{4, 99}));
  EXPECT_TRUE(calls[1].empty());

  const std::pair<const char*, const char*> bad[] = {
      {R"({"seqs":[]})",
       R"({"error":"must be a non-empty array of sequence numbers","field":"seqs"})"},
      {R"({"seqs":[0]})", R"({"error":"must hold positive integers","field":"seqs"})"},
      {R"({"seqs":["4"]})", R"({"error":"must hold positive integers","field":"seqs"})"},
      {R"({"seq":[4]})", R"({"error":"unknown field","field":"seq"})"},
      {R"([4])", R"({"error":"body must be a JSON object","field":null})"},
  };
  for (const auto& [body, error] : bad) {
    r = Admin("POST", "/v1/integrations/1/dead/replay", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(r.body, error);
  }
  EXPECT_EQ(service_.replay_calls().size(), 3u);  // none reached the service
  EXPECT_EQ(Admin("POST", "/v1/integrations/8/dead/replay").status, 404);
  EXPECT_EQ(Admin("GET", "/v1/integrations/1/dead/replay").status, 405);
  EXPECT_EQ(Admin("POST", "/v1/integrations/1/dead/other").status, 404);
}

TEST_F(HandlerTest, MetricsArePrometheusText) {
  Call("GET", "/healthz");
  Response r = Admin("GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_TRUE(absl::StartsWith(r.body, "outboxd_fake_up 1\n"));
  EXPECT_TRUE(absl::StrContains(r.body, "# TYPE outboxd_api_responses_total counter\n"));
  EXPECT_TRUE(absl::StrContains(r.body, "outboxd_api_responses_total{class=\"2xx\"} 1\n"))
      << r.body;
}

TEST(HttpStatusForTest, MapsServiceErrors) {
  EXPECT_EQ(HttpStatusFor(absl::InvalidArgumentError("")), 400);
  EXPECT_EQ(HttpStatusFor(absl::NotFoundError("")), 404);
  EXPECT_EQ(HttpStatusFor(absl::AlreadyExistsError("")), 409);
  EXPECT_EQ(HttpStatusFor(absl::FailedPreconditionError("")), 409);
  EXPECT_EQ(HttpStatusFor(absl::ResourceExhaustedError("")), 503);
  EXPECT_EQ(HttpStatusFor(absl::UnavailableError("")), 503);
  EXPECT_EQ(HttpStatusFor(absl::UnimplementedError("")), 501);
  EXPECT_EQ(HttpStatusFor(absl::InternalError("")), 500);
}

}  // namespace
}  // namespace outboxd
