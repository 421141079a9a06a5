// Accepted records as NDJSON, one line per record:
//   {"log_type":"<Log-Type>","workspace":"<id>","received_at_ms":<ms>,"record":<record>}
// or, with OutFormat::kIds, the record's top-level "id" value instead of the
// record (null when it has none; RecordsToKeep reads it):
//   {"log_type":"<Log-Type>","workspace":"<id>","received_at_ms":<ms>,"id":<id>}
// which is all the benchmark's latency join reads, for a twentieth of the
// bytes. Buffered; the server calls Flush() at least every 100 ms and at exit.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "checks.h"
#include "outboxd/clock.h"
#include "outboxd/mutex.h"

namespace outboxd::fake_sentinel {

// The NDJSON line for one record (newline included).
std::string RecordLine(std::string_view log_type, std::string_view workspace,
                       TimeMs received_at_ms, std::string_view record);

// Thread-safe.
class RecordWriter {
 public:
  // Appends to `path`; an empty path discards records.
  static absl::StatusOr<std::unique_ptr<RecordWriter>> Open(
      const std::string& path, OutFormat format = OutFormat::kRecords);
  ~RecordWriter();

  // `records` as RecordsToKeep made them for format(): whole records, or ids.
  void Append(std::string_view log_type, std::string_view workspace,
              TimeMs received_at_ms, const std::vector<std::string>& records);
  OutFormat format() const { return format_; }
  absl::Status Flush();

 private:
  RecordWriter(std::FILE* file, OutFormat format) : file_(file), format_(format) {}
  absl::Status FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Mutex mu_;
  std::FILE* const file_;  // null: discard
  const OutFormat format_;
  std::string buffer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace outboxd::fake_sentinel
