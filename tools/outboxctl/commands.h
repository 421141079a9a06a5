// outboxctl's commands and what they share: the context (options, clock,
// output streams), exit codes, API calls that report their own errors, and
// a small owner of parsed JSON answers.
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api_client.h"
#include "args.h"
#include "outboxd/clock.h"
#include "simdjson.h"

namespace outboxd::ctl {

// Exit codes (documented in the usage text).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // the API said no, or the work failed
inline constexpr int kExitUsage = 2;        // bad command line
inline constexpr int kExitUnreachable = 3;  // no answer from outboxd

struct Context {
  GlobalOptions global;
  Clock* clock = nullptr;
  std::FILE* out = stdout;
  std::FILE* err = stderr;
};

// Prints "outboxctl: <message>" to ctx.err and returns `code`.
int Fail(const Context& ctx, std::string_view message, int code = kExitFailed);
// A usage error: the message plus a pointer to --help; returns kExitUsage.
int UsageError(const Context& ctx, std::string_view message);
void Print(const Context& ctx, std::string_view text);

enum class Token { kAdmin, kIngest };

// One API call with the chosen token. On success the answer's status is one
// of `expect`; anything else was reported to ctx.err, and `exit_code` says
// how to exit.
struct CallResult {
  std::optional<HttpResult> http;  // set when the call succeeded
  int exit_code = kExitOk;
};
CallResult CallApi(const Context& ctx, Token token, std::string_view method,
                   std::string_view path, std::vector<int> expect,
                   std::string_view body = {});

// A parsed JSON document that owns its text and parser (elements point into
// both), so it can be returned and moved.
class JsonDoc {
 public:
  static absl::StatusOr<JsonDoc> Parse(std::string_view text);
  simdjson::dom::element root() const { return root_; }

 private:
  std::unique_ptr<simdjson::padded_string> text_;
  std::unique_ptr<simdjson::dom::parser> parser_;
  simdjson::dom::element root_;
};

// Field readers for API answers; a missing or mistyped field reads as empty,
// 0 or nullopt (the API owns the format; outboxctl only shows it).
std::string JsonString(simdjson::dom::element object, std::string_view key);
uint64_t JsonUint(simdjson::dom::element object, std::string_view key);
int64_t JsonInt(simdjson::dom::element object, std::string_view key);
double JsonDouble(simdjson::dom::element object, std::string_view key);
bool JsonBool(simdjson::dom::element object, std::string_view key);
// Strings unquoted, null as "-", anything else as minified JSON.
std::string JsonText(simdjson::dom::element value);

// A positive integer ID from the command line.
std::optional<uint64_t> ParseIdArg(const std::string& text);

// The body for add/test/update: `--json TEXT` or `--file F` ("-" = stdin),
// checked to be a JSON object so a typo fails before the request.
absl::StatusOr<std::string> BodyFromArgs(const ParsedArgs& args);

int IntegrationsCommand(const Context& ctx, const std::vector<std::string>& args);
int SendCommand(const Context& ctx, const std::vector<std::string>& args);
int StatusCommand(const Context& ctx, const std::vector<std::string>& args);
int DeadCommand(const Context& ctx, const std::vector<std::string>& args);
int InspectCommand(const Context& ctx, const std::vector<std::string>& args);

// The whole command line (argv without the program name); returns the exit
// code. main() sets up curl and the context.
int RunCli(Context ctx, std::vector<std::string> args);

}  // namespace outboxd::ctl
