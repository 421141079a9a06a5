#include "api/handler.h"

#include <optional>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/absl_compat.h"
#include "api/json_writer.h"
#include "outboxd/rfc3339.h"
#include "openssl/crypto.h"
#include "openssl/evp.h"
#include "simdjson.h"

namespace outboxd {

enum class Handler::Route : uint8_t {
  kNone,
  kEvents,
  kRequestCounts,
  kIntegrations,
  kTestNew,
  kIntegration,
  kEnable,
  kDisable,
  kTest,
  kStats,
  kDead,
  kDeadReplay,
  kMetrics,
  kHealthz,
};

struct Handler::Counters {
  std::array<std::atomic<uint64_t>, 6> by_class{};  // index: status / 100
  std::atomic<uint64_t> busy{0};
};

namespace {

namespace dom = simdjson::dom;

enum class Access : uint8_t { kOpen, kIngest, kAdmin };

constexpr int kRetryAfterSeconds = 1;

std::array<unsigned char, 32> Sha256(std::string_view data) {
  std::array<unsigned char, 32> digest{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_sha256(), nullptr);
  return digest;
}

Response Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response ErrorJson(int status, std::string_view message) {
  JsonWriter w;
  w.BeginObject().Key("error").String(message).EndObject();
  return Json(status, std::move(w).Take());
}

Response Unavailable(std::string_view message) {
  JsonWriter w;
  w.BeginObject()
      .Key("error")
      .String(message)
      .Key("retry_after_s")
      .Int(kRetryAfterSeconds);
  w.EndObject();
  Response r = Json(503, std::move(w).Take());
  r.headers.emplace_back("Retry-After", absl::StrCat(kRetryAfterSeconds));
  return r;
}

Response StatusError(const absl::Status& status) {
  const int code = HttpStatusFor(status);
  if (code == 503) return Unavailable(ToStd(status.message()));
  return ErrorJson(code, ToStd(status.message()));
}

Response FieldErrorJson(const FieldError& error) {
  JsonWriter w;
  w.BeginObject().Key("error").String(error.message).Key("field");
  if (error.field.empty()) {
    w.Null();
  } else {
    w.String(error.field);
  }
  w.EndObject();
  return Json(400, std::move(w).Take());
}

Response IngestErrorJson(const IngestError& error) {
  JsonWriter w;
  w.BeginObject().Key("error").String(error.message).Key("line").Int(error.line);
  w.Key("field").OptionalString(error.field).EndObject();
  return Json(400, std::move(w).Take());
}

Response IntegrationJson(int status, const IntegrationConfig& config) {
  return Json(status, IntegrationToJson(config));
}

Response TestResultJson(const TestResult& t) {
  JsonWriter w;
  w.BeginObject().Key("ok").Bool(t.ok).Key("status").Int(t.status);
  w.Key("error_code").String(t.error_code).Key("message").String(t.message);
  w.Key("latency_ms").Int(t.latency_ms).EndObject();
  return Json(200, std::move(w).Take());
}

Response StatsJson(const IntegrationStatsView& s) {
  JsonWriter w;
  w.BeginObject().Key("state").String(StateName(s.state)).Key("queued").Uint(s.queued);
  w.Key("oldest_due");
  if (s.oldest_due.has_value()) {
    w.String(FormatRfc3339(*s.oldest_due));
  } else {
    w.Null();
  }
  w.Key("window").BeginObject().Key("requests").Uint(s.requests);
  w.Key("failures").Uint(s.failures).Key("ratio").Double(s.ratio).EndObject();
  w.EndObject();
  return Json(200, std::move(w).Take());
}

// "/v1/integrations/12/stats?x" -> {"v1", "integrations", "12", "stats"}.
std::vector<std::string_view> PathSegments(std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string_view> segments;
  for (absl::string_view s : absl::StrSplit(ToAbsl(path), '/'))
    segments.push_back(ToStd(s));
  if (!segments.empty() && segments.front().empty()) segments.erase(segments.begin());
  return segments;
}

std::optional<uint64_t> ParseId(std::string_view text) {
  uint64_t id = 0;
  if (text.empty() || text.size() > 20 || !absl::c_all_of(text, absl::ascii_isdigit) ||
      !absl::SimpleAtoi(ToAbsl(text), &id) || id == 0) {
    return std::nullopt;
  }
  return id;
}

bool IsIdentityEncoding(std::string_view encoding) {
  const absl::string_view e = absl::StripAsciiWhitespace(ToAbsl(encoding));
  return e.empty() || absl::EqualsIgnoreCase(e, "identity");
}

struct RequestCount {
  uint64_t company_id = 0;
  uint64_t count = 0;
  std::optional<TimeMs> at;
};

// {"company_id": <positive int>, "count": <int >= 0>, "at": "<RFC 3339>"?}
std::optional<FieldError> ParseRequestCount(std::string_view body, RequestCount* out) {
  dom::parser parser;
  dom::element root;
  dom::object object;
  const simdjson::padded_string padded(body);
  if (parser.parse(padded).get(root) != simdjson::SUCCESS ||
      root.get_object().get(object) != simdjson::SUCCESS) {
    return FieldError{"", "body must be a JSON object"};
  }
  bool has_company = false, has_count = false;
  for (dom::key_value_pair field : object) {
    std::string_view text;
    if (field.key == "company_id" && !has_company) {
      has_company = true;
      if (field.value.get_uint64().get(out->company_id) != simdjson::SUCCESS ||
          out->company_id == 0) {
        return FieldError{"company_id", "must be a positive integer"};
      }
    } else if (field.key == "count" && !has_count) {
      has_count = true;
      if (field.value.get_uint64().get(out->count) != simdjson::SUCCESS) {
        return FieldError{"count", "must be a non-negative integer"};
      }
    } else if (field.key == "at" && !out->at.has_value()) {
      absl::StatusOr<TimeMs> at =
          absl::InvalidArgumentError("must be an RFC 3339 string");
      if (field.value.get_string().get(text) == simdjson::SUCCESS)
        at = ParseRfc3339(text);
      if (!at.ok()) return FieldError{"at", std::string(at.status().message())};
      out->at = *at;
    } else {
      const bool known =
          field.key == "company_id" || field.key == "count" || field.key == "at";
      return FieldError{std::string(field.key),
                        known ? "duplicate key" : "unknown field"};
    }
  }
  if (!has_company) return FieldError{"company_id", "is required"};
  if (!has_count) return FieldError{"count", "is required"};
  return std::nullopt;
}

constexpr size_t kDefaultDeadLimit = 100;
constexpr size_t kMaxDeadLimit = 10'000;

// The value of `name` in the target's query string, if present.
std::optional<std::string_view> QueryParam(std::string_view target,
                                           std::string_view name) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  for (absl::string_view pair : absl::StrSplit(ToAbsl(target.substr(q + 1)), '&')) {
    const size_t eq = pair.find('=');
    if (ToStd(pair.substr(0, eq)) != name) continue;
    return eq == absl::string_view::npos ? std::string_view()
                                         : ToStd(pair.substr(eq + 1));
  }
  return std::nullopt;
}

// ?limit=N, 1..kMaxDeadLimit, default kDefaultDeadLimit.
std::optional<FieldError> ParseDeadLimit(std::string_view target, size_t* limit) {
  *limit = kDefaultDeadLimit;
  std::optional<std::string_view> text = QueryParam(target, "limit");
  if (!text.has_value()) return std::nullopt;
  if (!absl::SimpleAtoi(ToAbsl(*text), limit) || *limit == 0 || *limit > kMaxDeadLimit) {
    return FieldError{"limit",
                      absl::StrCat("must be a whole number from 1 to ", kMaxDeadLimit)};
  }
  return std::nullopt;
}

// An empty body or {} (everything), or {"seqs": [<positive int>, ...]}.
std::optional<FieldError> ParseReplayBody(std::string_view body,
                                          std::vector<uint64_t>* seqs) {
  if (absl::StripAsciiWhitespace(ToAbsl(body)).empty()) return std::nullopt;
  dom::parser parser;
  dom::object object;
  const simdjson::padded_string padded(body);
  if (parser.parse(padded).get(object) != simdjson::SUCCESS) {
    return FieldError{"", "body must be a JSON object"};
  }
  for (dom::key_value_pair field : object) {
    if (field.key != "seqs" || !seqs->empty()) {
      return FieldError{std::string(field.key),
                        field.key == "seqs" ? "duplicate key" : "unknown field"};
    }
    dom::array list;
    if (field.value.get_array().get(list) != simdjson::SUCCESS || list.size() == 0) {
      return FieldError{"seqs", "must be a non-empty array of sequence numbers"};
    }
    for (dom::element e : list) {
      uint64_t seq = 0;
      if (e.get_uint64().get(seq) != simdjson::SUCCESS || seq == 0) {
        return FieldError{"seqs", "must hold positive integers"};
      }
      seqs->push_back(seq);
    }
  }
  return std::nullopt;
}

// {"dead": [{"seq", "log_type", "reason", "died_at", "attempts",
// "first_enqueued_at", "event": <the stored event object, as is>}]}.
std::string DeadJson(const std::vector<DeadDelivery>& dead) {
  std::string out = "{\"dead\":[";
  for (size_t i = 0; i < dead.size(); ++i) {
    const Delivery& d = dead[i].delivery;
    absl::StrAppend(&out, i > 0 ? "," : "", "{\"seq\":", d.key.seq, ",\"log_type\":");
    AppendJsonString(&out, d.log_type);
    out += ",\"reason\":";
    AppendJsonString(&out, dead[i].reason);
    out += ",\"died_at\":";
    AppendJsonString(&out, FormatRfc3339(dead[i].died_ms));
    absl::StrAppend(&out, ",\"attempts\":", d.attempts, ",\"first_enqueued_at\":");
    AppendJsonString(&out, FormatRfc3339(d.first_enqueued_ms));
    // Events were validated as JSON objects at ingest and stored verbatim.
    absl::StrAppend(
        &out, ",\"event\":", ToAbsl(d.event.empty() ? "null" : d.event.view()), "}");
  }
  return out + "]}";
}

}  // namespace

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kUnimplemented:
      return 501;
    default:
      return 500;
  }
}

namespace {

// Holds one of the handler's parse slots for its scope (none when unbounded).
class ParseSlot {
 public:
  explicit ParseSlot(std::counting_semaphore<>* slots) : slots_(slots) {
    if (slots_ != nullptr) slots_->acquire();
  }
  ~ParseSlot() {
    if (slots_ != nullptr) slots_->release();
  }
  ParseSlot(const ParseSlot&) = delete;
  ParseSlot& operator=(const ParseSlot&) = delete;

 private:
  std::counting_semaphore<>* const slots_;
};

}  // namespace

Handler::Handler(Service* service, Executor* executor, Clock* clock,
                 HandlerOptions options)
    : service_(service),
      executor_(executor),
      clock_(clock),
      options_(std::move(options)),
      ingest_digest_(Sha256(options_.ingest_token)),
      admin_digest_(Sha256(options_.admin_token)),
      counters_(std::make_shared<Counters>()) {
  if (options_.max_concurrent_parses > 0) {
    parse_slots_ =
        std::make_unique<std::counting_semaphore<>>(options_.max_concurrent_parses);
  }
}

bool Handler::Authorized(std::string_view header, bool admin) const {
  const std::string& token = admin ? options_.admin_token : options_.ingest_token;
  if (token.empty()) return false;
  header = ToStd(absl::StripAsciiWhitespace(ToAbsl(header)));
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(ToAbsl(header.substr(0, kScheme.size())),
                              ToAbsl(kScheme))) {
    return false;
  }
  // Digests have a fixed length, so the comparison time says nothing about
  // the token, not even its length.
  const std::array<unsigned char, 32> got = Sha256(
      ToStd(absl::StripLeadingAsciiWhitespace(ToAbsl(header.substr(kScheme.size())))));
  const auto& want = admin ? admin_digest_ : ingest_digest_;
  return CRYPTO_memcmp(got.data(), want.data(), got.size()) == 0;
}

void Handler::Handle(Request request, Responder respond) {
  // Count every answer; the counters outlive the handler if a late
  // TestIntegration callback does.
  respond = [counters = counters_, inner = std::move(respond)](Response r) {
    const int cls = r.status / 100;
    if (cls >= 1 && cls <= 5)
      counters->by_class[cls].fetch_add(1, std::memory_order_relaxed);
    inner(std::move(r));
  };
  struct RouteSpec {
    Route route;
    Access access;
    std::string_view methods;  // allowed, comma-separated
  };
  const std::vector<std::string_view> seg = PathSegments(request.target);
  std::optional<uint64_t> id;
  RouteSpec spec{Route::kNone, Access::kOpen, ""};
  const size_t n = seg.size();
  if (n == 1 && seg[0] == "healthz") spec = {Route::kHealthz, Access::kOpen, "GET"};
  if (n == 1 && seg[0] == "metrics") spec = {Route::kMetrics, Access::kAdmin, "GET"};
  if (n == 2 && seg[0] == "v1") {
    if (seg[1] == "events") spec = {Route::kEvents, Access::kIngest, "POST"};
    if (seg[1] == "request-counts")
      spec = {Route::kRequestCounts, Access::kIngest, "POST"};
    if (seg[1] == "integrations")
      spec = {Route::kIntegrations, Access::kAdmin, "GET, POST"};
  }
  if (n >= 3 && n <= 5 && seg[0] == "v1" && seg[1] == "integrations") {
    id = ParseId(seg[2]);
    if (n == 3 && seg[2] == "test") spec = {Route::kTestNew, Access::kAdmin, "POST"};
    if (n == 3 && id) spec = {Route::kIntegration, Access::kAdmin, "GET, PATCH, DELETE"};
    if (n == 4 && id) {
      if (seg[3] == "enable") spec = {Route::kEnable, Access::kAdmin, "POST"};
      if (seg[3] == "disable") spec = {Route::kDisable, Access::kAdmin, "POST"};
      if (seg[3] == "test") spec = {Route::kTest, Access::kAdmin, "POST"};
      if (seg[3] == "stats") spec = {Route::kStats, Access::kAdmin, "GET"};
      if (seg[3] == "dead") spec = {Route::kDead, Access::kAdmin, "GET"};
    }
    if (n == 5 && id && seg[3] == "dead" && seg[4] == "replay") {
      spec = {Route::kDeadReplay, Access::kAdmin, "POST"};
    }
  }
  if (spec.route == Route::kNone) return respond(ErrorJson(404, "not found"));
  const std::vector<absl::string_view> methods =
      absl::StrSplit(ToAbsl(spec.methods), ", ");
  if (!absl::c_linear_search(methods, request.method)) {
    Response r =
        ErrorJson(405, absl::StrCat("method not allowed; use ", ToAbsl(spec.methods)));
    r.headers.emplace_back("Allow", std::string(spec.methods));
    return respond(std::move(r));
  }
  if (spec.access != Access::kOpen &&
      !Authorized(request.authorization, spec.access == Access::kAdmin)) {
    Response r = ErrorJson(401, "missing or invalid bearer token");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return respond(std::move(r));
  }
  Dispatch(spec.route, id.value_or(0), std::move(request), std::move(respond));
}

void Handler::Offload(const Responder& respond, absl::AnyInvocable<void() &&> task) {
  if (!executor_->TrySubmit(std::move(task))) {
    counters_->busy.fetch_add(1, std::memory_order_relaxed);
    respond(Unavailable("server busy, retry later"));
  }
}

void Handler::Dispatch(Route route, uint64_t id, Request request, Responder respond) {
  Service* const service = service_;
  const bool get = request.method == "GET";
  switch (route) {
    case Route::kHealthz: {
      const bool healthy = service->Healthy();
      JsonWriter w;
      w.BeginObject().Key("status").String(healthy ? "ok" : "unavailable").EndObject();
      return respond(Json(healthy ? 200 : 503, std::move(w).Take()));
    }
    case Route::kMetrics:
      return Metrics(std::move(respond));
    case Route::kEvents:
      return Ingest(std::move(request), std::move(respond));
    case Route::kRequestCounts:
      return RequestCounts(std::move(request), std::move(respond));
    case Route::kIntegrations:
      if (!get) return CreateIntegration(std::move(request), std::move(respond));
      return Offload(respond, [service, respond] {
        JsonWriter w;
        w.BeginObject().Key("integrations").BeginArray();
        for (const IntegrationConfig& c : service->ListIntegrations())
          WriteIntegrationJson(c, &w);
        w.EndArray().EndObject();
        respond(Json(200, std::move(w).Take()));
      });
    case Route::kIntegration:
      if (request.method == "PATCH")
        return PatchIntegration(id, std::move(request), respond);
      if (get) {
        return Offload(respond, [service, id, respond] {
          absl::StatusOr<IntegrationConfig> c = service->GetIntegration(id);
          respond(c.ok() ? IntegrationJson(200, *c) : StatusError(c.status()));
        });
      }
      return Offload(respond, [service, id, respond] {
        const absl::Status s = service->DeleteIntegration(id);
        respond(s.ok() ? Response{204, "", "", {}} : StatusError(s));
      });
    case Route::kEnable:
    case Route::kDisable:
      return Offload(respond, [service, id, respond, enable = route == Route::kEnable] {
        absl::StatusOr<IntegrationConfig> c = service->SetEnabled(id, enable);
        respond(c.ok() ? IntegrationJson(200, *c) : StatusError(c.status()));
      });
    case Route::kTest:
    case Route::kTestNew:
      return TestIntegration(id, std::move(request), std::move(respond));
    case Route::kStats:
      return Offload(respond, [service, id, respond] {
        absl::StatusOr<IntegrationStatsView> s = service->Stats(id);
        respond(s.ok() ? StatsJson(*s) : StatusError(s.status()));
      });
    case Route::kDead:
      return ListDead(id, std::move(request), std::move(respond));
    case Route::kDeadReplay:
      return ReplayDead(id, std::move(request), std::move(respond));
    case Route::kNone:
      break;
  }
  respond(ErrorJson(404, "not found"));
}

void Handler::Ingest(Request request, Responder respond) {
  if (!IsIdentityEncoding(request.content_encoding)) {
    return respond(
        ErrorJson(415, "Content-Encoding is not supported; send the body as is"));
  }
  Offload(respond, [this, request = std::move(request), respond]() mutable {
    const BodyFormat format = DetectBodyFormat(request.content_type, request.body);
    IngestParseResult parsed;
    {
      ParseSlot slot(parse_slots_.get());
      // The result keeps the body: compact events point into it.
      parsed =
          ParseEventsKeepingBody(std::move(request.body), format, options_.ingest_limits);
    }
    if (!parsed.ok()) return respond(IngestErrorJson(*parsed.error));
    IngestResult result;
    if (!parsed.events.empty()) {
      absl::StatusOr<IngestResult> stored = service_->Ingest(std::move(parsed.events));
      if (!stored.ok()) return respond(StatusError(stored.status()));
      result = *stored;
    }
    JsonWriter w;
    w.BeginObject().Key("accepted").Uint(result.accepted);
    w.Key("deliveries").Uint(result.deliveries).EndObject();
    respond(Json(202, std::move(w).Take()));
  });
}

void Handler::RequestCounts(Request request, Responder respond) {
  Offload(respond, [this, request = std::move(request), respond] {
    RequestCount count;
    if (auto err = ParseRequestCount(request.body, &count))
      return respond(FieldErrorJson(*err));
    const absl::Status s = service_->AddRequestCount(count.company_id, count.count,
                                                     count.at.value_or(clock_->NowMs()));
    if (!s.ok()) return respond(StatusError(s));
    JsonWriter w;
    w.BeginObject().Key("accepted").Uint(1).EndObject();
    respond(Json(202, std::move(w).Take()));
  });
}

void Handler::CreateIntegration(Request request, Responder respond) {
  Offload(respond, [this, request = std::move(request), respond] {
    IntegrationParseResult parsed =
        ParseIntegration(request.body, nullptr,
                         {.allow_endpoint_override = options_.allow_endpoint_override});
    if (!parsed.ok()) return respond(FieldErrorJson(*parsed.error));
    absl::StatusOr<IntegrationConfig> created =
        service_->CreateIntegration(std::move(parsed.config));
    if (!created.ok()) return respond(StatusError(created.status()));
    Response r = IntegrationJson(201, *created);
    r.headers.emplace_back("Location", absl::StrCat("/v1/integrations/", created->id));
    respond(std::move(r));
  });
}

void Handler::PatchIntegration(uint64_t id, Request request, Responder respond) {
  Offload(respond, [this, id, request = std::move(request), respond] {
    absl::StatusOr<IntegrationConfig> base = service_->GetIntegration(id);
    if (!base.ok()) return respond(StatusError(base.status()));
    IntegrationParseResult parsed =
        ParseIntegration(request.body, &*base,
                         {.allow_endpoint_override = options_.allow_endpoint_override});
    if (!parsed.ok()) return respond(FieldErrorJson(*parsed.error));
    absl::StatusOr<IntegrationConfig> updated =
        service_->UpdateIntegration(id, std::move(parsed.config));
    respond(updated.ok() ? IntegrationJson(200, *updated)
                         : StatusError(updated.status()));
  });
}

// id 0: POST /v1/integrations/test with a create body; else a saved one.
void Handler::TestIntegration(uint64_t id, Request request, Responder respond) {
  Offload(respond, [this, id, request = std::move(request), respond] {
    IntegrationConfig config;
    if (id == 0) {
      IntegrationParseResult parsed =
          ParseIntegration(request.body, nullptr,
                           {.allow_endpoint_override = options_.allow_endpoint_override});
      if (!parsed.ok()) return respond(FieldErrorJson(*parsed.error));
      config = std::move(parsed.config);
    } else {
      absl::StatusOr<IntegrationConfig> saved = service_->GetIntegration(id);
      if (!saved.ok()) return respond(StatusError(saved.status()));
      config = *std::move(saved);
    }
    // The callback may run on any thread after this task, and after the
    // handler is gone: it captures only the responder.
    service_->TestIntegration(
        std::move(config), [respond](absl::StatusOr<TestResult> result) {
          respond(result.ok() ? TestResultJson(*result) : StatusError(result.status()));
        });
  });
}

void Handler::ListDead(uint64_t id, Request request, Responder respond) {
  size_t limit = 0;
  if (auto err = ParseDeadLimit(request.target, &limit))
    return respond(FieldErrorJson(*err));
  Offload(respond, [service = service_, id, limit, respond] {
    absl::StatusOr<std::vector<DeadDelivery>> dead = service->ListDead(id, limit);
    respond(dead.ok() ? Json(200, DeadJson(*dead)) : StatusError(dead.status()));
  });
}

void Handler::ReplayDead(uint64_t id, Request request, Responder respond) {
  Offload(respond, [service = service_, id, request = std::move(request), respond] {
    std::vector<uint64_t> seqs;
    if (auto err = ParseReplayBody(request.body, &seqs))
      return respond(FieldErrorJson(*err));
    absl::StatusOr<ReplayResult> result = service->ReplayDead(id, std::move(seqs));
    if (!result.ok()) return respond(StatusError(result.status()));
    JsonWriter w;
    w.BeginObject().Key("replayed").Uint(result->replayed).Key("more").Bool(result->more);
    w.EndObject();
    respond(Json(200, std::move(w).Take()));
  });
}

void Handler::Metrics(Responder respond) {
  Offload(respond, [service = service_, counters = counters_, respond] {
    std::string text = service->Metrics();
    absl::StrAppend(
        &text,
        "# HELP outboxd_api_responses_total HTTP responses sent, by status class.\n"
        "# TYPE outboxd_api_responses_total counter\n");
    for (int cls = 1; cls <= 5; ++cls) {
      absl::StrAppend(&text, "outboxd_api_responses_total{class=\"", cls, "xx\"} ",
                      counters->by_class[cls].load(std::memory_order_relaxed), "\n");
    }
    absl::StrAppend(
        &text,
        "# HELP outboxd_api_busy_rejections_total Requests answered 503 because "
        "the worker queue was full.\n"
        "# TYPE outboxd_api_busy_rejections_total counter\n"
        "outboxd_api_busy_rejections_total ",
        counters->busy.load(std::memory_order_relaxed), "\n");
    Response r = Json(200, std::move(text));
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    respond(std::move(r));
  });
}

}  // namespace outboxd
