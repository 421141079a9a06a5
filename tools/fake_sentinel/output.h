// Accepted records as NDJSON, one line per record:
//   {"log_type":"<Log-Type>","workspace":"<id>","received_at_ms":<ms>,"record":<record>}
// Buffered; the server calls Flush() at least every 100 ms and at exit.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "outboxd/mutex.h"
#include "outboxd/clock.h"

namespace outboxd::fake_sentinel {

// The NDJSON line for one record (newline included).
std::string RecordLine(std::string_view log_type, std::string_view workspace,
                       TimeMs received_at_ms, std::string_view record);

// Thread-safe.
class RecordWriter {
 public:
  // Appends to `path`; an empty path discards records.
  static absl::StatusOr<std::unique_ptr<RecordWriter>> Open(const std::string& path);
  ~RecordWriter();

  void Append(std::string_view log_type, std::string_view workspace,
              TimeMs received_at_ms, const std::vector<std::string>& records);
  absl::Status Flush();

 private:
  explicit RecordWriter(std::FILE* file) : file_(file) {}
  absl::Status FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Mutex mu_;
  std::FILE* const file_;  // null: discard
  std::string buffer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace outboxd::fake_sentinel
