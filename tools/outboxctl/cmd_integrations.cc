// outboxctl integrations list|get|add|test|update|enable|disable|delete.

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commands.h"
#include "format.h"
#include "integration_view.h"

namespace outboxd::ctl {
namespace {

namespace dom = simdjson::dom;

const FlagSpec kBodyFlags{{"json", "file"}, {}};

int List(const Context& ctx, const ParsedArgs& args) {
  if (!args.positional.empty())
    return UsageError(ctx, "integrations list takes no arguments");
  CallResult call = CallApi(ctx, Token::kAdmin, "GET", "/v1/integrations", {200});
  if (!call.http) return call.exit_code;
  if (args.Has("json")) {
    Print(ctx, call.http->body + "\n");
    return kExitOk;
  }
  absl::StatusOr<JsonDoc> doc = JsonDoc::Parse(call.http->body);
  dom::array list;
  if (!doc.ok() ||
      doc->root()["integrations"].get_array().get(list) != simdjson::SUCCESS) {
    return Fail(ctx, absl::StrCat("unexpected answer: ", call.http->body));
  }
  Table table({"ID", "COMPANY", "NAME", "KIND", "STATE", "EVENTS"});
  for (dom::element c : list) {
    table.AddRow({absl::StrCat(JsonUint(c, "id")),
                  absl::StrCat(JsonUint(c, "company_id")), JsonString(c, "name"),
                  JsonString(c, "kind"), JsonString(c, "state"),
                  IntegrationSelection(c)});
  }
  Print(ctx, table.Render());
  return kExitOk;
}

int Get(const Context& ctx, const ParsedArgs& args, uint64_t id) {
  CallResult call =
      CallApi(ctx, Token::kAdmin, "GET", absl::StrCat("/v1/integrations/", id), {200});
  if (!call.http) return call.exit_code;
  if (args.Has("json")) {
    Print(ctx, call.http->body + "\n");
    return kExitOk;
  }
  absl::StatusOr<JsonDoc> doc = JsonDoc::Parse(call.http->body);
  if (!doc.ok() || !doc->root().is_object()) {
    return Fail(ctx, absl::StrCat("unexpected answer: ", call.http->body));
  }
  Print(ctx, DescribeIntegration(doc->root()));
  return kExitOk;
}

int Add(const Context& ctx, const ParsedArgs& args) {
  if (!args.positional.empty()) return UsageError(ctx, "integrations add takes no ID");
  absl::StatusOr<std::string> body = BodyFromArgs(args);
  if (!body.ok()) return UsageError(ctx, std::string(body.status().message()));
  CallResult call = CallApi(ctx, Token::kAdmin, "POST", "/v1/integrations", {201}, *body);
  if (!call.http) return call.exit_code;
  absl::StatusOr<JsonDoc> doc = JsonDoc::Parse(call.http->body);
  if (!doc.ok()) return Fail(ctx, absl::StrCat("unexpected answer: ", call.http->body));
  const dom::element c = doc->root();
  if (args.Has("q")) {
    Print(ctx, absl::StrCat(JsonUint(c, "id"), "\n"));
  } else {
    Print(ctx, absl::StrCat("created integration ", JsonUint(c, "id"), " \"",
                            JsonString(c, "name"), "\" (", JsonString(c, "kind"), ", ",
                            JsonString(c, "state"), ")\n"));
  }
  return kExitOk;
}

// POST /v1/integrations/test (a body) or /v1/integrations/{id}/test.
int Test(const Context& ctx, const ParsedArgs& args, std::optional<uint64_t> id) {
  std::string body;
  if (!id) {
    absl::StatusOr<std::string> from_args = BodyFromArgs(args);
    if (!from_args.ok())
      return UsageError(ctx, std::string(from_args.status().message()));
    body = *std::move(from_args);
  } else if (args.Has("json") || args.Has("file")) {
    return UsageError(ctx, "integrations test takes an ID or a body, not both");
  }
  const std::string path =
      id ? absl::StrCat("/v1/integrations/", *id, "/test") : "/v1/integrations/test";
  CallResult call = CallApi(ctx, Token::kAdmin, "POST", path, {200}, body);
  if (!call.http) return call.exit_code;
  absl::StatusOr<JsonDoc> doc = JsonDoc::Parse(call.http->body);
  bool ok = false;
  if (!doc.ok() || doc->root()["ok"].get_bool().get(ok) != simdjson::SUCCESS) {
    return Fail(ctx, absl::StrCat("unexpected answer: ", call.http->body));
  }
  Print(ctx, DescribeTestResult(doc->root()));
  return ok ? kExitOk : kExitFailed;
}

int Update(const Context& ctx, const ParsedArgs& args, uint64_t id) {
  absl::StatusOr<std::string> body = BodyFromArgs(args);
  if (!body.ok()) return UsageError(ctx, std::string(body.status().message()));
  CallResult call = CallApi(ctx, Token::kAdmin, "PATCH",
                            absl::StrCat("/v1/integrations/", id), {200}, *body);
  if (!call.http) return call.exit_code;
  absl::StatusOr<JsonDoc> doc = JsonDoc::Parse(call.http->body);
  if (!doc.ok()) return Fail(ctx, absl::StrCat("unexpected answer: ", call.http->body));
  Print(ctx, absl::StrCat("updated integration ", id, " (version ",
                          JsonUint(doc->root(), "version"), ")\n"));
  return kExitOk;
}

int SetState(const Context& ctx, const std::string& verb, uint64_t id) {
  if (verb == "delete") {
    CallResult call = CallApi(ctx, Token::kAdmin, "DELETE",
                              absl::StrCat("/v1/integrations/", id), {200, 204});
    if (!call.http) return call.exit_code;
    Print(ctx, absl::StrCat("integration ", id, " deleted\n"));
    return kExitOk;
  }
  CallResult call = CallApi(ctx, Token::kAdmin, "POST",
                            absl::StrCat("/v1/integrations/", id, "/", verb), {200});
  if (!call.http) return call.exit_code;
  absl::StatusOr<JsonDoc> doc = JsonDoc::Parse(call.http->body);
  if (!doc.ok()) return Fail(ctx, absl::StrCat("unexpected answer: ", call.http->body));
  Print(ctx,
        absl::StrCat("integration ", id, " is ", JsonString(doc->root(), "state"), "\n"));
  return kExitOk;
}

}  // namespace

int IntegrationsCommand(const Context& ctx, const std::vector<std::string>& argv) {
  if (argv.empty())
    return UsageError(ctx, "integrations wants a subcommand (list, get, add, ...)");
  const std::string& verb = argv.front();
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  const bool known = verb == "list" || verb == "get" || verb == "add" || verb == "test" ||
                     verb == "update" || verb == "enable" || verb == "disable" ||
                     verb == "delete";
  if (!known)
    return UsageError(ctx, absl::StrCat("unknown subcommand integrations ", verb));
  FlagSpec spec;
  if (verb == "list" || verb == "get") spec = {{}, {"json"}};
  if (verb == "add") spec = {kBodyFlags.with_value, {"q"}};
  if (verb == "test" || verb == "update") spec = kBodyFlags;
  // "-q" is the one short flag; spell it long for the parser.
  std::vector<std::string> normalized = rest;
  for (std::string& a : normalized) a = (a == "-q") ? "--q" : a;
  absl::StatusOr<ParsedArgs> args = ParseArgs(normalized, spec);
  if (!args.ok()) return UsageError(ctx, std::string(args.status().message()));
  if (verb == "list") return List(ctx, *args);
  if (verb == "add") return Add(ctx, *args);
  if (verb == "test" && args->positional.empty()) return Test(ctx, *args, std::nullopt);
  if (args->positional.size() != 1) {
    return UsageError(ctx,
                      absl::StrCat("integrations ", verb, " wants one integration ID"));
  }
  std::optional<uint64_t> id = ParseIdArg(args->positional[0]);
  if (!id)
    return UsageError(ctx, absl::StrCat("not an integration ID: ", args->positional[0]));
  if (verb == "get") return Get(ctx, *args, *id);
  if (verb == "test") return Test(ctx, *args, id);
  if (verb == "update") return Update(ctx, *args, *id);
  return SetState(ctx, verb, *id);
}

}  // namespace outboxd::ctl
