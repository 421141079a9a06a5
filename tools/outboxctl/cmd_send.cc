// outboxctl send FILE|-: NDJSON events to POST /v1/events (sender.h), with a
// progress bar on a terminal and a one-line summary at the end.

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "api/json_writer.h"
#include "commands.h"
#include "sender.h"

namespace outboxd::ctl {
namespace {

constexpr size_t kMaxConnections = 64;
constexpr uint64_t kMaxRetries = 1000;
constexpr TimeMs kProgressEveryMs = 100;
constexpr int kBarWidth = 30;

class ApiPoster final : public ChunkPoster {
 public:
  explicit ApiPoster(const GlobalOptions& global)
      : client_(global.url, global.timeout_ms), token_(global.ingest_token) {}
  absl::StatusOr<HttpResult> Post(const std::string& body) override {
    return client_.Call("POST", "/v1/events", token_, body, "application/x-ndjson");
  }

 private:
  ApiClient client_;
  std::string token_;
};

double PerSecond(uint64_t n, TimeMs ms) {
  return ms > 0 ? static_cast<double>(n) * 1000.0 / static_cast<double>(ms) : 0.0;
}

// "\r[#######.....]  1200/5000 events  8432 events/s" (or without the bar
// when the total is unknown), redrawn at most every kProgressEveryMs.
class ProgressBar {
 public:
  explicit ProgressBar(std::FILE* err) : err_(err) {}

  void Update(const SendProgress& p) {
    if (drawn_ && p.elapsed_ms - last_ms_ < kProgressEveryMs) return;
    last_ms_ = p.elapsed_ms;
    drawn_ = true;
    std::string line = "\r";
    if (p.events_total > 0) {
      const double done = std::min(
          1.0, static_cast<double>(p.events_sent) / static_cast<double>(p.events_total));
      const int filled = static_cast<int>(done * kBarWidth);
      absl::StrAppend(&line, "[", std::string(filled, '#'),
                      std::string(kBarWidth - filled, '.'), "] ", p.events_sent, "/",
                      p.events_total, " events");
    } else {
      absl::StrAppend(&line, p.events_sent, " events");
    }
    absl::StrAppend(&line, absl::StrFormat("  %.0f events/s ",
                                           PerSecond(p.events_sent, p.elapsed_ms)));
    std::fputs(line.c_str(), err_);
    std::fflush(err_);
  }

  // Clears the bar so the summary starts on a clean line.
  void Clear() {
    if (drawn_) std::fputs("\r\033[K", err_);
  }

 private:
  std::FILE* err_;
  bool drawn_ = false;
  TimeMs last_ms_ = 0;
};

absl::StatusOr<SendOptions> OptionsFromArgs(const ParsedArgs& args) {
  SendOptions options;
  absl::StatusOr<uint64_t> connections =
      args.Number("connections", 4, 1, kMaxConnections);
  absl::StatusOr<uint64_t> lines = args.Number("chunk-lines", options.limits.max_lines);
  absl::StatusOr<uint64_t> bytes = args.Number("chunk-bytes", options.limits.max_bytes);
  absl::StatusOr<uint64_t> retries =
      args.Number("retries", static_cast<uint64_t>(options.max_retries), 0, kMaxRetries);
  for (const auto* s : {&connections, &lines, &bytes, &retries}) {
    if (!s->ok()) return s->status();
  }
  options.connections = *connections;
  options.limits.max_lines = *lines;
  options.limits.max_bytes = *bytes;
  options.max_retries = static_cast<int>(*retries);
  return options;
}

std::string SummaryJson(const SendSummary& s) {
  JsonWriter w;
  w.BeginObject().Key("accepted").Uint(s.accepted).Key("deliveries").Uint(s.deliveries);
  w.Key("requests").Uint(s.requests).Key("retries").Uint(s.retries);
  w.Key("seconds").Double(static_cast<double>(s.elapsed_ms) / 1000.0);
  w.Key("error").OptionalString(s.error).Key("line");
  if (s.line) {
    w.Uint(*s.line);
  } else {
    w.Null();
  }
  w.EndObject();
  return std::move(w).Take() + "\n";
}

}  // namespace

int SendCommand(const Context& ctx, const std::vector<std::string>& argv) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(
      argv, {{"connections", "chunk-lines", "chunk-bytes", "retries"}, {"json"}});
  if (!args.ok()) return UsageError(ctx, std::string(args.status().message()));
  if (args->positional.size() != 1)
    return UsageError(ctx, "send wants one FILE (or - for stdin)");
  absl::StatusOr<SendOptions> options = OptionsFromArgs(*args);
  if (!options.ok()) return UsageError(ctx, std::string(options.status().message()));
  if (ctx.global.ingest_token.empty()) {
    return UsageError(ctx,
                      "no ingest token: pass --ingest-token or set OUTBOXD_INGEST_TOKEN");
  }
  const std::string& path = args->positional[0];
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(nullptr, &std::fclose);
  std::FILE* in = stdin;
  if (path != "-") {
    file.reset(std::fopen(path.c_str(), "rb"));
    if (file == nullptr) return Fail(ctx, absl::StrCat("cannot open ", path));
    in = file.get();
  }
  const uint64_t total = CountEvents(in).value_or(0);

  ProgressBar bar(ctx.err);
  std::function<void(const SendProgress&)> on_progress;
  if (isatty(fileno(ctx.err)))
    on_progress = [&bar](const SendProgress& p) { bar.Update(p); };
  const GlobalOptions global = ctx.global;
  Sender sender(
      *options, [global] { return std::make_unique<ApiPoster>(global); }, ctx.clock,
      std::move(on_progress));
  const SendSummary s = sender.Run(in, total);
  bar.Clear();

  if (args->Has("json")) {
    Print(ctx, SummaryJson(s));
  } else {
    const double seconds = static_cast<double>(s.elapsed_ms) / 1000.0;
    Print(ctx,
          absl::StrFormat("%d events accepted, %d deliveries in %.2f s (%.0f events/s)\n",
                          s.accepted, s.deliveries, seconds,
                          PerSecond(s.accepted, s.elapsed_ms)));
  }
  if (!s.error) return kExitOk;
  const std::string where = path == "-" ? "stdin" : path;
  return Fail(ctx, s.line ? absl::StrCat(where, " ", *s.error) : *s.error,
              s.no_answer ? kExitUnreachable : kExitFailed);
}

}  // namespace outboxd::ctl
