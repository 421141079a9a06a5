#include "commands.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace outboxd::ctl {
namespace {

namespace dom = simdjson::dom;

constexpr char kUsage[] = R"(usage: outboxctl [global options] COMMAND ...

Global options (anywhere on the line):
  --url URL             outboxd's API (env OUTBOXD_URL, default http://127.0.0.1:8400)
  --admin-token TOKEN   management token (env OUTBOXD_ADMIN_TOKEN)
  --ingest-token TOKEN  ingest token, for send (env OUTBOXD_INGEST_TOKEN)
  --timeout SECONDS     per HTTP request (default 60)

Commands:
  integrations list [--json]              id, company, name, kind, state, events
  integrations get ID [--json]
  integrations add --json JSON | --file F [-q]   (-q prints only the new id)
  integrations test --json JSON | --file F       test a configuration before saving it
  integrations test ID                           test a saved integration
  integrations update ID --json JSON | --file F  change fields (PATCH)
  integrations enable|disable|delete ID
  send FILE|- [--connections N] [--chunk-lines N] [--chunk-bytes N] [--retries N] [--json]
                                          post NDJSON events (4 connections, 1,000 lines
                                          or 4 MiB per request by default)
  status [--json]                         queue and failure ratio per integration
  dead list ID [--limit N] [--json]       deliveries given up
  dead replay ID [--seq N]...             put them back in the outbox (all without --seq)
  inspect DATA_DIR [--json]               offline: queues in a stopped outboxd's data dir

Exit codes: 0 ok, 1 refused by the API or failed, 2 usage error, 3 outboxd unreachable.
)";

}  // namespace

int Fail(const Context& ctx, std::string_view message, int code) {
  std::fprintf(ctx.err, "outboxctl: %.*s\n", static_cast<int>(message.size()),
               message.data());
  return code;
}

int UsageError(const Context& ctx, std::string_view message) {
  Fail(ctx, message);
  std::fputs("(outboxctl --help lists the commands)\n", ctx.err);
  return kExitUsage;
}

void Print(const Context& ctx, std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), ctx.out);
}

CallResult CallApi(const Context& ctx, Token token, std::string_view method,
                   std::string_view path, std::vector<int> expect,
                   std::string_view body) {
  const bool admin = token == Token::kAdmin;
  const std::string& value = admin ? ctx.global.admin_token : ctx.global.ingest_token;
  if (value.empty()) {
    return {
        std::nullopt,
        UsageError(ctx,
                   admin ? "no admin token: pass --admin-token or set OUTBOXD_ADMIN_TOKEN"
                         : "no ingest token: pass --ingest-token or set "
                           "OUTBOXD_INGEST_TOKEN")};
  }
  ApiClient client(ctx.global.url, ctx.global.timeout_ms);
  absl::StatusOr<HttpResult> result = client.Call(method, path, value, body);
  if (!result.ok())
    return {std::nullopt,
            Fail(ctx, std::string(result.status().message()), kExitUnreachable)};
  if (!absl::c_linear_search(expect, result->status)) {
    return {std::nullopt, Fail(ctx, DescribeApiError(*result))};
  }
  return {*std::move(result), kExitOk};
}

absl::StatusOr<JsonDoc> JsonDoc::Parse(std::string_view text) {
  JsonDoc doc;
  doc.text_ = std::make_unique<simdjson::padded_string>(text);
  doc.parser_ = std::make_unique<dom::parser>();
  simdjson::error_code error = doc.parser_->parse(*doc.text_).get(doc.root_);
  if (error != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: ", simdjson::error_message(error)));
  }
  return doc;
}

std::string JsonString(dom::element object, std::string_view key) {
  std::string_view text;
  if (object[key].get_string().get(text) != simdjson::SUCCESS) return "";
  return std::string(text);
}

uint64_t JsonUint(dom::element object, std::string_view key) {
  uint64_t n = 0;
  if (object[key].get_uint64().get(n) != simdjson::SUCCESS) return 0;
  return n;
}

int64_t JsonInt(dom::element object, std::string_view key) {
  int64_t n = 0;
  if (object[key].get_int64().get(n) != simdjson::SUCCESS) return 0;
  return n;
}

double JsonDouble(dom::element object, std::string_view key) {
  double d = 0;
  if (object[key].get_double().get(d) != simdjson::SUCCESS) return 0;
  return d;
}

bool JsonBool(dom::element object, std::string_view key) {
  bool b = false;
  if (object[key].get_bool().get(b) != simdjson::SUCCESS) return false;
  return b;
}

std::string JsonText(dom::element value) {
  std::string_view text;
  if (value.get_string().get(text) == simdjson::SUCCESS) return std::string(text);
  if (value.is_null()) return "-";
  return simdjson::minify(value);
}

std::optional<uint64_t> ParseIdArg(const std::string& text) {
  uint64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id == 0) return std::nullopt;
  return id;
}

absl::StatusOr<std::string> BodyFromArgs(const ParsedArgs& args) {
  std::optional<std::string> json = args.Value("json");
  std::optional<std::string> file = args.Value("file");
  if (json.has_value() == file.has_value()) {
    return absl::InvalidArgumentError(
        "give the integration as --json JSON or --file FILE");
  }
  std::string body;
  if (json) {
    body = *json;
  } else if (*file == "-") {
    body.assign(std::istreambuf_iterator<char>(std::cin),
                std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(*file, std::ios::binary);
    if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", *file));
    std::ostringstream text;
    text << in.rdbuf();
    body = text.str();
  }
  absl::StatusOr<JsonDoc> doc = JsonDoc::Parse(body);
  if (!doc.ok()) return doc.status();
  if (!doc->root().is_object())
    return absl::InvalidArgumentError("the body must be a JSON object");
  return body;
}

int RunCli(Context ctx, std::vector<std::string> args) {
  absl::StatusOr<GlobalOptions> global = ExtractGlobalOptions(
      &args, [](const char* name) -> const char* { return std::getenv(name); });
  if (!global.ok()) return UsageError(ctx, std::string(global.status().message()));
  ctx.global = *std::move(global);
  if (args.empty()) {
    std::fputs(kUsage, ctx.err);
    return kExitUsage;
  }
  const std::string command = args.front();
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, ctx.out);
    return kExitOk;
  }
  if (command == "integrations") return IntegrationsCommand(ctx, rest);
  if (command == "send") return SendCommand(ctx, rest);
  if (command == "status") return StatusCommand(ctx, rest);
  if (command == "dead") return DeadCommand(ctx, rest);
  if (command == "inspect") return InspectCommand(ctx, rest);
  return UsageError(ctx, absl::StrCat("unknown command \"", command, "\""));
}

}  // namespace outboxd::ctl
