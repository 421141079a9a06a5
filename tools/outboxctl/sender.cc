#include "sender.h"

#include <algorithm>
#include <deque>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "outboxd/mutex.h"
#include "simdjson.h"

namespace outboxd::ctl {
namespace {

constexpr size_t kReadBlock = 1 << 20;

// {"accepted": N, "deliveries": M}; false when the body is not that.
bool ParseAccepted(const std::string& body, uint64_t* accepted, uint64_t* deliveries) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  const simdjson::padded_string padded(body);
  return parser.parse(padded).get(object) == simdjson::SUCCESS &&
         object["accepted"].get_uint64().get(*accepted) == simdjson::SUCCESS &&
         object["deliveries"].get_uint64().get(*deliveries) == simdjson::SUCCESS;
}

// One chunk's fate, decided without touching the shared state.
struct ChunkOutcome {
  bool ok = false;
  bool stopped = false;    // abandoned because the run stopped elsewhere
  bool no_answer = false;  // the connection failed
  uint64_t accepted = 0;
  uint64_t deliveries = 0;
  uint64_t retries = 0;
  std::string error;
  std::optional<uint64_t> line;
};

ChunkOutcome Rejected(const Chunk& chunk, const HttpResult& result) {
  ChunkOutcome out;
  std::optional<ApiError> api = ParseApiError(result.body);
  if (result.status != 400 || !api.has_value() || !api->line.has_value()) {
    out.error = DescribeApiError(result);
    return out;
  }
  out.line = FileLine(chunk, *api->line);
  out.error = absl::StrCat("line ", *out.line, ": ", api->message);
  if (api->field.has_value()) absl::StrAppend(&out.error, " (field: ", *api->field, ")");
  return out;
}

}  // namespace

// What the reader and the connections share during one Run.
class Sender::RunState {
 public:
  RunState(const Sender& sender, uint64_t events_total)
      : sender_(sender),
        start_ms_(sender.clock_->NowMs()),
        events_total_(events_total),
        queue_cap_(2 * std::max<size_t>(sender.options_.connections, 1)) {}

  // A connection: posts queued chunks until the input is done or the run
  // stops.
  void Connection() {
    std::unique_ptr<ChunkPoster> poster = sender_.make_poster_();
    while (true) {
      Chunk chunk;
      {
        MutexLock lock(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stop_ || reading_done_ || !queue_.empty();
        };
        mu_.Await(ready);
        if (stop_ || queue_.empty()) return;
        chunk = std::move(queue_.front());
        queue_.pop_front();
      }
      Record(chunk, Post(*poster, chunk));
    }
  }

  // Hands chunks to the connections, waiting for room; false once the run
  // stopped.
  bool Enqueue(std::vector<Chunk>* chunks) {
    for (Chunk& c : *chunks) {
      MutexLock lock(&mu_);
      auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || queue_.size() < queue_cap_;
      };
      mu_.Await(room);
      if (stop_) return false;
      queue_.push_back(std::move(c));
    }
    chunks->clear();
    return true;
  }

  void Fail(std::string error) {
    MutexLock lock(&mu_);
    summary_.error = std::move(error);
    stop_ = true;
  }

  void ReadingDone() {
    MutexLock lock(&mu_);
    reading_done_ = true;
  }

  SendSummary Finish() {
    MutexLock lock(&mu_);
    summary_.elapsed_ms = sender_.clock_->NowMs() - start_ms_;
    return summary_;
  }

 private:
  ChunkOutcome Post(ChunkPoster& poster, const Chunk& chunk) {
    const SendOptions& options = sender_.options_;
    ChunkOutcome out;
    for (int attempt = 0;; ++attempt) {
      absl::StatusOr<HttpResult> result = poster.Post(chunk.body);
      if (!result.ok()) {
        out.error = std::string(result.status().message());
        out.no_answer = true;
        return out;
      }
      if (result->status == 202) {
        out.ok = ParseAccepted(result->body, &out.accepted, &out.deliveries);
        if (!out.ok) out.error = absl::StrCat("unexpected answer: ", result->body);
        return out;
      }
      const bool busy = result->status == 503 || result->status == 429;
      if (!busy || attempt >= options.max_retries) {
        ChunkOutcome rejected = Rejected(chunk, *result);
        rejected.retries = out.retries;
        if (busy)
          rejected.error =
              absl::StrCat("gave up after ", attempt, " retries: ", rejected.error);
        return rejected;
      }
      ++out.retries;
      const TimeMs wait = result->retry_after_s.has_value()
                              ? *result->retry_after_s * kSecondMs
                              : options.default_retry_ms;
      if (!WaitUnlessStopped(std::min(wait, options.max_retry_wait_ms))) {
        out.stopped = true;
        return out;
      }
    }
  }

  // Waits out a Retry-After; false when the run stopped meanwhile.
  bool WaitUnlessStopped(TimeMs ms) {
    MutexLock lock(&mu_);
    mu_.AwaitWithTimeout([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; },
                         std::chrono::milliseconds(ms));
    return !stop_;
  }

  void Record(const Chunk& chunk, const ChunkOutcome& out) {
    MutexLock lock(&mu_);
    summary_.retries += out.retries;
    if (!out.ok) {
      // Among several failures the earliest place in the file wins, so the
      // message does not depend on which connection answered first.
      if (!out.stopped && chunk.first_line < failed_chunk_line_) {
        failed_chunk_line_ = chunk.first_line;
        summary_.error = out.error;
        summary_.line = out.line;
        summary_.no_answer = out.no_answer;
      }
      stop_ = true;
      return;
    }
    summary_.accepted += out.accepted;
    summary_.deliveries += out.deliveries;
    ++summary_.requests;
    // Under the lock, so progress calls are serialized as promised.
    if (sender_.on_progress_) {
      sender_.on_progress_(
          {summary_.accepted, events_total_, sender_.clock_->NowMs() - start_ms_});
    }
  }

  const Sender& sender_;
  const TimeMs start_ms_;
  const uint64_t events_total_;
  const size_t queue_cap_;
  Mutex mu_;
  std::deque<Chunk> queue_ ABSL_GUARDED_BY(mu_);
  bool reading_done_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  SendSummary summary_ ABSL_GUARDED_BY(mu_);
  uint64_t failed_chunk_line_ ABSL_GUARDED_BY(mu_) = UINT64_MAX;
};

Sender::Sender(SendOptions options, PosterFactory make_poster, Clock* clock,
               std::function<void(const SendProgress&)> on_progress)
    : options_(options),
      make_poster_(std::move(make_poster)),
      clock_(clock),
      on_progress_(std::move(on_progress)) {}

SendSummary Sender::Run(std::FILE* in, uint64_t events_total) {
  RunState state(*this, events_total);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < std::max<size_t>(options_.connections, 1); ++i) {
    threads.emplace_back([&state] { state.Connection(); });
  }
  NdjsonChunker chunker(options_.limits);
  std::vector<Chunk> ready;
  std::vector<char> buffer(kReadBlock);
  bool more = true;
  while (more) {
    const size_t n = std::fread(buffer.data(), 1, buffer.size(), in);
    if (n > 0) chunker.Add(std::string_view(buffer.data(), n), &ready);
    if (n < buffer.size() && std::ferror(in)) {
      state.Fail("cannot read the input");
      break;
    }
    if (n < buffer.size() && std::feof(in)) {
      chunker.Finish(&ready);
      more = false;
    }
    if (!state.Enqueue(&ready)) break;
  }
  state.ReadingDone();
  for (std::thread& t : threads) t.join();
  return state.Finish();
}

std::optional<uint64_t> CountEvents(std::FILE* in) {
  const long start = std::ftell(in);
  if (start < 0) return std::nullopt;
  uint64_t events = 0;
  bool line_has_content = false;
  std::vector<char> buffer(kReadBlock);
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), in)) > 0) {
    for (size_t i = 0; i < n; ++i) {
      const char c = buffer[i];
      if (c == '\n') {
        events += line_has_content ? 1 : 0;
        line_has_content = false;
      } else if (c != ' ' && c != '\t' && c != '\r') {
        line_has_content = true;
      }
    }
  }
  events += line_has_content ? 1 : 0;
  const bool failed = std::ferror(in) != 0;
  std::clearerr(in);
  if (failed || std::fseek(in, start, SEEK_SET) != 0) return std::nullopt;
  return events;
}

}  // namespace outboxd::ctl
