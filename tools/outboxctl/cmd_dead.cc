// outboxctl dead list|replay: deliveries given up (max age, rejected as
// malformed), via GET /v1/integrations/{id}/dead and
// POST /v1/integrations/{id}/dead/replay.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/json_writer.h"
#include "outboxd/rfc3339.h"
#include "commands.h"
#include "format.h"

namespace outboxd::ctl {
namespace {

namespace dom = simdjson::dom;

constexpr uint64_t kDefaultLimit = 100;
constexpr uint64_t kMaxLimit = 10'000;  // the API's cap

std::string DeadTable(dom::array dead, TimeMs now) {
  Table table({"SEQ", "LOG TYPE", "ATTEMPTS", "DIED", "EVENT ID", "REASON"});
  for (dom::element d : dead) {
    std::string died = JsonString(d, "died_at");
    absl::StatusOr<TimeMs> t = ParseRfc3339(died);
    if (t.ok()) died = FormatAge(*t, now);
    std::string event_id;
    dom::element event;
    if (d["event"].get(event) == simdjson::SUCCESS) event_id = JsonString(event, "id");
    table.AddRow({absl::StrCat(JsonUint(d, "seq")), JsonString(d, "log_type"),
                  absl::StrCat(JsonUint(d, "attempts")), died, event_id,
                  JsonString(d, "reason")});
  }
  return table.Render();
}

int List(const Context& ctx, const ParsedArgs& args, uint64_t id) {
  absl::StatusOr<uint64_t> limit = args.Number("limit", kDefaultLimit, 1, kMaxLimit);
  if (!limit.ok()) return UsageError(ctx, std::string(limit.status().message()));
  CallResult call =
      CallApi(ctx, Token::kAdmin, "GET",
              absl::StrCat("/v1/integrations/", id, "/dead?limit=", *limit), {200});
  if (!call.http) return call.exit_code;
  if (args.Has("json")) {
    Print(ctx, call.http->body + "\n");
    return kExitOk;
  }
  absl::StatusOr<JsonDoc> doc = JsonDoc::Parse(call.http->body);
  dom::array dead;
  if (!doc.ok() || doc->root()["dead"].get_array().get(dead) != simdjson::SUCCESS) {
    return Fail(ctx, absl::StrCat("unexpected answer: ", call.http->body));
  }
  if (dead.size() == 0) {
    Print(ctx, absl::StrCat("no dead deliveries for integration ", id, "\n"));
    return kExitOk;
  }
  Print(ctx, DeadTable(dead, ctx.clock->NowMs()));
  return kExitOk;
}

int Replay(const Context& ctx, const ParsedArgs& args, uint64_t id) {
  std::string body;
  auto seqs = args.values.find("seq");
  if (seqs != args.values.end()) {
    JsonWriter w;
    w.BeginObject().Key("seqs").BeginArray();
    for (const std::string& text : seqs->second) {
      std::optional<uint64_t> seq = ParseIdArg(text);
      if (!seq)
        return UsageError(ctx, absl::StrCat("--seq wants a sequence number, not ", text));
      w.Uint(*seq);
    }
    w.EndArray().EndObject();
    body = std::move(w).Take();
  }
  CallResult call =
      CallApi(ctx, Token::kAdmin, "POST",
              absl::StrCat("/v1/integrations/", id, "/dead/replay"), {200}, body);
  if (!call.http) return call.exit_code;
  absl::StatusOr<JsonDoc> doc = JsonDoc::Parse(call.http->body);
  if (!doc.ok()) return Fail(ctx, absl::StrCat("unexpected answer: ", call.http->body));
  Print(ctx,
        absl::StrCat("replayed ", JsonUint(doc->root(), "replayed"),
                     " dead deliveries of integration ", id,
                     JsonBool(doc->root(), "more") ? " (more remain: run it again)" : "",
                     "\n"));
  return kExitOk;
}

}  // namespace

int DeadCommand(const Context& ctx, const std::vector<std::string>& argv) {
  if (argv.empty() || (argv[0] != "list" && argv[0] != "replay")) {
    return UsageError(ctx, "dead wants list or replay");
  }
  const bool list = argv[0] == "list";
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  absl::StatusOr<ParsedArgs> args =
      ParseArgs(rest, list ? FlagSpec{{"limit"}, {"json"}} : FlagSpec{{"seq"}, {}});
  if (!args.ok()) return UsageError(ctx, std::string(args.status().message()));
  if (args->positional.size() != 1) {
    return UsageError(ctx, absl::StrCat("dead ", argv[0], " wants one integration ID"));
  }
  std::optional<uint64_t> id = ParseIdArg(args->positional[0]);
  if (!id)
    return UsageError(ctx, absl::StrCat("not an integration ID: ", args->positional[0]));
  return list ? List(ctx, *args, *id) : Replay(ctx, *args, *id);
}

}  // namespace outboxd::ctl
