// outboxctl status: per integration, its queue and its health window, from
// GET /v1/integrations and GET /v1/integrations/{id}/stats.

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

struct Row {
  uint64_t id = 0;
  std::string name;
  std::string state;
  uint64_t queued = 0;
  std::optional<TimeMs> oldest_due;
  uint64_t requests = 0;
  uint64_t failures = 0;
  double ratio = 0;
};

// Reads one stats answer into `row`; false when it is not one.
bool ReadStats(const std::string& body, Row* row) {
  absl::StatusOr<JsonDoc> doc = JsonDoc::Parse(body);
  if (!doc.ok()) return false;
  const dom::element stats = doc->root();
  dom::element window;
  if (stats["window"].get(window) != simdjson::SUCCESS) return false;
  row->state = JsonString(stats, "state");
  row->queued = JsonUint(stats, "queued");
  const std::string due = JsonString(stats, "oldest_due");
  if (!due.empty()) {
    absl::StatusOr<TimeMs> t = ParseRfc3339(due);
    if (t.ok()) row->oldest_due = *t;
  }
  row->requests = JsonUint(window, "requests");
  row->failures = JsonUint(window, "failures");
  row->ratio = JsonDouble(window, "ratio");
  return true;
}

std::string RowsJson(const std::vector<Row>& rows) {
  JsonWriter w;
  w.BeginObject().Key("integrations").BeginArray();
  for (const Row& r : rows) {
    w.BeginObject().Key("id").Uint(r.id).Key("name").String(r.name).Key("state").String(
        r.state);
    w.Key("queued").Uint(r.queued).Key("oldest_due");
    if (r.oldest_due) {
      w.String(FormatRfc3339(*r.oldest_due));
    } else {
      w.Null();
    }
    w.Key("window").BeginObject().Key("requests").Uint(r.requests);
    w.Key("failures").Uint(r.failures).Key("ratio").Double(r.ratio).EndObject();
    w.EndObject();
  }
  w.EndArray().EndObject();
  return std::move(w).Take() + "\n";
}

std::string RowsTable(const std::vector<Row>& rows, TimeMs now) {
  Table table({"ID", "NAME", "STATE", "QUEUED", "OLDEST DUE", "REQUESTS", "FAILED %"});
  for (const Row& r : rows) {
    table.AddRow({absl::StrCat(r.id), r.name, r.state, absl::StrCat(r.queued),
                  r.oldest_due ? FormatAge(*r.oldest_due, now) : "-",
                  absl::StrCat(r.requests),
                  r.requests > 0 ? FormatPercent(r.ratio) : "-"});
  }
  return table.Render();
}

}  // namespace

int StatusCommand(const Context& ctx, const std::vector<std::string>& argv) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(argv, {{}, {"json"}});
  if (!args.ok()) return UsageError(ctx, std::string(args.status().message()));
  if (!args->positional.empty()) return UsageError(ctx, "status takes no arguments");
  CallResult list = CallApi(ctx, Token::kAdmin, "GET", "/v1/integrations", {200});
  if (!list.http) return list.exit_code;
  absl::StatusOr<JsonDoc> doc = JsonDoc::Parse(list.http->body);
  dom::array integrations;
  if (!doc.ok() ||
      doc->root()["integrations"].get_array().get(integrations) != simdjson::SUCCESS) {
    return Fail(ctx, absl::StrCat("unexpected answer: ", list.http->body));
  }
  std::vector<Row> rows;
  for (dom::element c : integrations) {
    Row row;
    row.id = JsonUint(c, "id");
    row.name = JsonString(c, "name");
    // 404: deleted since the list was read; not worth a line.
    CallResult stats =
        CallApi(ctx, Token::kAdmin, "GET",
                absl::StrCat("/v1/integrations/", row.id, "/stats"), {200, 404});
    if (!stats.http) return stats.exit_code;
    if (stats.http->status == 404) continue;
    if (!ReadStats(stats.http->body, &row)) {
      return Fail(ctx, absl::StrCat("unexpected stats answer: ", stats.http->body));
    }
    rows.push_back(std::move(row));
  }
  Print(ctx, args->Has("json") ? RowsJson(rows) : RowsTable(rows, ctx.clock->NowMs()));
  return kExitOk;
}

}  // namespace outboxd::ctl
