#include "args.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace outboxd::ctl {
namespace {

constexpr std::string_view kDashes = "--";

// "--name=value" -> {"name", "value"}; "--name" -> {"name", nullopt}.
std::pair<std::string, std::optional<std::string>> SplitFlag(const std::string& arg) {
  const std::string body = arg.substr(kDashes.size());
  const size_t eq = body.find('=');
  if (eq == std::string::npos) return {body, std::nullopt};
  return {body.substr(0, eq), body.substr(eq + 1)};
}

bool IsFlag(const std::string& arg) { return arg.size() > 2 && arg.rfind("--", 0) == 0; }

}  // namespace

std::optional<std::string> ParsedArgs::Value(const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

absl::StatusOr<uint64_t> ParsedArgs::Number(const std::string& name, uint64_t fallback,
                                            uint64_t min, uint64_t max) const {
  std::optional<std::string> text = Value(name);
  if (!text) return fallback;
  uint64_t n = 0;
  if (!absl::SimpleAtoi(*text, &n) || n < min || n > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", name,
                                                   " wants a whole number from ", min,
                                                   " to ", max, ", not \"", *text, "\""));
  }
  return n;
}

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                                     const FlagSpec& spec) {
  ParsedArgs out;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || !IsFlag(arg)) {
      if (arg == "--" && !flags_done) {
        flags_done = true;
        continue;
      }
      out.positional.push_back(arg);
      continue;
    }
    auto [name, value] = SplitFlag(arg);
    if (spec.switches.count(name) > 0) {
      if (value)
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      out.switches.insert(name);
      continue;
    }
    if (spec.with_value.count(name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option --", name));
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
      value = args[++i];
    }
    out.values[name].push_back(*std::move(value));
  }
  return out;
}

absl::StatusOr<GlobalOptions> ExtractGlobalOptions(
    std::vector<std::string>* args,
    const std::function<const char*(const char*)>& getenv) {
  GlobalOptions options;
  auto from_env = [&](const char* name, std::string* field) {
    const char* v = getenv(name);
    if (v != nullptr && *v != '\0') *field = v;
  };
  from_env("OUTBOXD_URL", &options.url);
  from_env("OUTBOXD_ADMIN_TOKEN", &options.admin_token);
  from_env("OUTBOXD_INGEST_TOKEN", &options.ingest_token);

  std::vector<std::string> rest;
  for (size_t i = 0; i < args->size(); ++i) {
    const std::string& arg = (*args)[i];
    if (arg == "--") {  // the command's own "--" and everything after it
      rest.insert(rest.end(), args->begin() + static_cast<ptrdiff_t>(i), args->end());
      break;
    }
    if (!IsFlag(arg)) {
      rest.push_back(arg);
      continue;
    }
    auto [name, value] = SplitFlag(arg);
    std::string* field = nullptr;
    std::string timeout;
    if (name == "url") field = &options.url;
    if (name == "admin-token") field = &options.admin_token;
    if (name == "ingest-token") field = &options.ingest_token;
    if (name == "timeout") field = &timeout;
    if (field == nullptr) {
      rest.push_back(arg);
      continue;
    }
    if (!value) {
      if (i + 1 >= args->size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
      value = (*args)[++i];
    }
    *field = *std::move(value);
    if (field == &timeout) {
      int64_t seconds = 0;
      if (!absl::SimpleAtoi(timeout, &seconds) || seconds <= 0) {
        return absl::InvalidArgumentError("--timeout wants whole seconds (> 0)");
      }
      options.timeout_ms = seconds * 1000;
    }
  }
  while (!options.url.empty() && options.url.back() == '/') options.url.pop_back();
  if (options.url.empty()) return absl::InvalidArgumentError("--url is empty");
  *args = std::move(rest);
  return options;
}

}  // namespace outboxd::ctl
