// `outboxctl send`: reads NDJSON, cuts it into chunks (ndjson_chunker.h)
// and posts them to POST /v1/events over several connections at once.
//
// A 400 stops the run and names the file line of the bad event; a 503 or
// 429 is retried after its Retry-After (bounded); any other answer or a lost
// connection stops the run. Chunks already posted stay accepted (the API
// takes each request whole or not at all), and the summary says how many.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "api_client.h"
#include "ndjson_chunker.h"
#include "outboxd/clock.h"

namespace outboxd::ctl {

// Posts one request body to /v1/events. One per connection (thread).
class ChunkPoster {
 public:
  virtual ~ChunkPoster() = default;
  virtual absl::StatusOr<HttpResult> Post(const std::string& body) = 0;
};
using PosterFactory = std::function<std::unique_ptr<ChunkPoster>()>;

struct SendOptions {
  ChunkLimits limits;
  size_t connections = 4;
  int max_retries = 30;               // per chunk, for 503 / 429
  TimeMs default_retry_ms = 1000;     // when the answer has no Retry-After
  TimeMs max_retry_wait_ms = 60'000;  // a longer Retry-After is cut to this
};

struct SendProgress {
  uint64_t events_sent = 0;   // accepted so far
  uint64_t events_total = 0;  // 0 when unknown (stdin)
  TimeMs elapsed_ms = 0;
};

struct SendSummary {
  uint64_t accepted = 0;
  uint64_t deliveries = 0;
  uint64_t requests = 0;  // accepted requests
  uint64_t retries = 0;   // 503 / 429 answers waited out
  TimeMs elapsed_ms = 0;
  // Why the run stopped early; `line` is the file line of a rejected event.
  std::optional<std::string> error;
  std::optional<uint64_t> line;
  bool no_answer = false;  // the error is that outboxd did not answer
};

class Sender {
 public:
  // `on_progress` is called after each accepted request, one call at a
  // time, on any thread; it must not block for long.
  Sender(SendOptions options, PosterFactory make_poster, Clock* clock,
         std::function<void(const SendProgress&)> on_progress = nullptr);

  // Reads `in` to its end, or until the run fails, and posts it.
  // `events_total` is only reported back through progress.
  SendSummary Run(std::FILE* in, uint64_t events_total);

 private:
  class RunState;

  SendOptions options_;
  PosterFactory make_poster_;
  Clock* clock_;
  std::function<void(const SendProgress&)> on_progress_;
};

// Non-blank lines of `in` from its current position to its end, then
// rewinds it; nullopt when `in` cannot seek (a pipe) or cannot be read.
std::optional<uint64_t> CountEvents(std::FILE* in);

}  // namespace outboxd::ctl
