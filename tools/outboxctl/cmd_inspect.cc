// outboxctl inspect DATA_DIR: reads a stopped outboxd's store directly
// (DATA_DIR/outbox) and shows, per integration, its queue, its dead letters
// and its notice lane (include/outboxd/integration.h). Secrets stay sealed:
// only the record's "name" and "state" are read.

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/json_writer.h"
#include "outboxd/rfc3339.h"
#include "commands.h"
#include "format.h"
#include "outboxd/integration.h"
#include "outboxd/store.h"

namespace outboxd::ctl {
namespace {

struct LaneCounts {
  uint64_t queued = 0;
  std::optional<TimeMs> oldest_due;
  uint64_t dead = 0;
};

struct IntegrationRow {
  uint64_t id = 0;
  std::string name;
  std::string state;
  LaneCounts main;
  LaneCounts notices;
};

absl::StatusOr<LaneCounts> CountLane(const OutboxStore& store, uint64_t lane) {
  LaneCounts counts;
  counts.queued = store.QueuedCount(lane);
  absl::StatusOr<TimeMs> due = store.OldestDue(lane);
  if (!due.ok()) return due.status();
  if (*due != kNoDue) counts.oldest_due = *due;
  absl::Status s =
      store.ForEachDead(lane, SIZE_MAX, [&](DeadDelivery&&) { ++counts.dead; });
  if (!s.ok()) return s;
  return counts;
}

void LaneJson(const LaneCounts& lane, JsonWriter* w) {
  w->BeginObject().Key("queued").Uint(lane.queued).Key("oldest_due");
  if (lane.oldest_due) {
    w->String(FormatRfc3339(*lane.oldest_due));
  } else {
    w->Null();
  }
  w->Key("dead").Uint(lane.dead).EndObject();
}

std::string RowsJson(const std::vector<IntegrationRow>& rows) {
  JsonWriter w;
  w.BeginObject().Key("integrations").BeginArray();
  for (const IntegrationRow& r : rows) {
    w.BeginObject().Key("id").Uint(r.id).Key("name").String(r.name).Key("state").String(
        r.state);
    w.Key("outbox");
    LaneJson(r.main, &w);
    w.Key("notices");
    LaneJson(r.notices, &w);
    w.EndObject();
  }
  w.EndArray().EndObject();
  return std::move(w).Take() + "\n";
}

std::string RowsTable(const std::vector<IntegrationRow>& rows, TimeMs now) {
  Table table({"ID", "NAME", "STATE", "QUEUED", "OLDEST DUE", "DEAD", "NOTICES QUEUED",
               "NOTICES DEAD"});
  for (const IntegrationRow& r : rows) {
    table.AddRow({absl::StrCat(r.id), r.name, r.state, absl::StrCat(r.main.queued),
                  r.main.oldest_due ? FormatAge(*r.main.oldest_due, now) : "-",
                  absl::StrCat(r.main.dead), absl::StrCat(r.notices.queued),
                  absl::StrCat(r.notices.dead)});
  }
  return table.Render();
}

// "name" and "state" from an integration record, "?" when unreadable.
void ReadRecord(std::string_view record, IntegrationRow* row) {
  absl::StatusOr<JsonDoc> doc = JsonDoc::Parse(record);
  auto field = [&doc](std::string_view key) {
    std::string value = doc.ok() ? JsonString(doc->root(), key) : std::string();
    return value.empty() ? std::string(1, '?') : value;
  };
  row->name = field("name");
  row->state = field("state");
}

absl::StatusOr<std::vector<IntegrationRow>> ReadRows(const OutboxStore& store) {
  std::vector<IntegrationRow> rows;
  absl::Status s = store.ForEachIntegration([&](uint64_t id, std::string_view record) {
    IntegrationRow row;
    row.id = id;
    ReadRecord(record, &row);
    rows.push_back(std::move(row));
  });
  if (!s.ok()) return s;
  for (IntegrationRow& row : rows) {
    absl::StatusOr<LaneCounts> main = CountLane(store, row.id);
    if (!main.ok()) return main.status();
    absl::StatusOr<LaneCounts> notices = CountLane(store, NoticeLaneOf(row.id));
    if (!notices.ok()) return notices.status();
    row.main = *main;
    row.notices = *notices;
  }
  return rows;
}

}  // namespace

int InspectCommand(const Context& ctx, const std::vector<std::string>& argv) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(argv, {{}, {"json"}});
  if (!args.ok()) return UsageError(ctx, std::string(args.status().message()));
  if (args->positional.size() != 1) return UsageError(ctx, "inspect wants one DATA_DIR");
  const std::string& dir = args->positional[0];
  const std::string path = dir + "/outbox";
  std::error_code ec;
  // Open would create an empty store; a wrong directory must say so instead.
  if (!std::filesystem::exists(path + "/CURRENT", ec)) {
    return Fail(ctx, absl::StrCat("no outbox in ", dir, " (expected ", path, ")"));
  }
  StoreOptions options;
  options.path = path;
  options.block_cache_bytes = 8u << 20;
  absl::StatusOr<std::unique_ptr<OutboxStore>> store = OutboxStore::Open(options);
  if (!store.ok()) {
    const std::string message(store.status().message());
    if (absl::StrContains(absl::AsciiStrToLower(message), "lock")) {
      return Fail(ctx,
                  absl::StrCat("the store in ", dir,
                               " is locked: outboxd is running on it. Stop it first (or "
                               "use `outboxctl status` against the running daemon)"));
    }
    return Fail(ctx, absl::StrCat("cannot open ", path, ": ", message));
  }
  absl::StatusOr<std::vector<IntegrationRow>> rows = ReadRows(**store);
  if (!rows.ok()) return Fail(ctx, std::string(rows.status().message()));
  Print(ctx, args->Has("json") ? RowsJson(*rows) : RowsTable(*rows, ctx.clock->NowMs()));
  return kExitOk;
}

}  // namespace outboxd::ctl
