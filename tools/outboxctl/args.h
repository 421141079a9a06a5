// Command-line parsing for outboxctl: `--name value`, `--name=value`,
// switches, repeated flags and positional arguments, with a closed set of
// flags per command so a typo is an error rather than a silent no-op.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace outboxd::ctl {

struct FlagSpec {
  std::set<std::string> with_value;  // names without "--"
  std::set<std::string> switches;
};

class ParsedArgs {
 public:
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;  // in the order given
  std::set<std::string> switches;

  bool Has(const std::string& name) const {
    return switches.count(name) > 0 || values.count(name) > 0;
  }
  // The last value given for `name`, if any.
  std::optional<std::string> Value(const std::string& name) const;
  // A whole-number flag, `fallback` when absent; InvalidArgument when given
  // but not a whole number in [min, max].
  absl::StatusOr<uint64_t> Number(const std::string& name, uint64_t fallback,
                                  uint64_t min = 1, uint64_t max = UINT64_MAX) const;
};

// Parses `args` against `spec`. "--" ends the flags; a lone "-" is a
// positional (stdin). InvalidArgument names the unknown or incomplete flag.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                                     const FlagSpec& spec);

// Options shared by every command, from flags or the environment.
struct GlobalOptions {
  std::string url = "http://127.0.0.1:8400";
  std::string admin_token;
  std::string ingest_token;
  int64_t timeout_ms = 60'000;  // per HTTP request
};

// Takes the global flags (--url, --admin-token, --ingest-token, --timeout)
// out of `args`, wherever they appear, after applying OUTBOXD_URL,
// OUTBOXD_ADMIN_TOKEN and OUTBOXD_INGEST_TOKEN from `getenv`. What remains is
// the command and its own arguments.
absl::StatusOr<GlobalOptions> ExtractGlobalOptions(
    std::vector<std::string>* args,
    const std::function<const char*(const char*)>& getenv);

}  // namespace outboxd::ctl
