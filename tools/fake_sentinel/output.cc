#include "output.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "checks.h"

namespace outboxd::fake_sentinel {
namespace {

// Above this much buffered output, Append writes at once.
constexpr size_t kFlushBytes = 1 << 20;

// A line is LinePrefix(...), the record (member "record") or its id (member
// "id"), kLineEnd.
std::string LinePrefix(std::string_view log_type, std::string_view workspace,
                       TimeMs received_at_ms, std::string_view member) {
  return absl::StrCat(
      "{\"log_type\":", JsonQuote(log_type), ",\"workspace\":", JsonQuote(workspace),
      ",\"received_at_ms\":", received_at_ms, ",\"", ToAbsl(member), "\":");
}
constexpr std::string_view kLineEnd = "}\n";

}  // namespace

std::string RecordLine(std::string_view log_type, std::string_view workspace,
                       TimeMs received_at_ms, std::string_view record) {
  return absl::StrCat(LinePrefix(log_type, workspace, received_at_ms, "record"),
                      ToAbsl(record), ToAbsl(kLineEnd));
}

absl::StatusOr<std::unique_ptr<RecordWriter>> RecordWriter::Open(const std::string& path,
                                                                 OutFormat format) {
  std::FILE* file = nullptr;
  if (!path.empty()) {
    file = std::fopen(path.c_str(), "ae");
    if (file == nullptr) {
      return absl::InternalError(
          absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
    }
  }
  return std::unique_ptr<RecordWriter>(new RecordWriter(file, format));
}

RecordWriter::~RecordWriter() {
  Flush().IgnoreError();  // best effort at exit; nobody is left to tell
  if (file_ != nullptr) std::fclose(file_);
}

void RecordWriter::Append(std::string_view log_type, std::string_view workspace,
                          TimeMs received_at_ms,
                          const std::vector<std::string>& records) {
  if (file_ == nullptr) return;
  const bool ids = format_ == OutFormat::kIds;
  const std::string prefix =
      LinePrefix(log_type, workspace, received_at_ms, ids ? "id" : "record");
  MutexLock lock(&mu_);
  for (const std::string& record : records) {
    buffer_.append(prefix).append(record).append(kLineEnd);
  }
  if (buffer_.size() >= kFlushBytes) FlushLocked().IgnoreError();
}

absl::Status RecordWriter::Flush() {
  MutexLock lock(&mu_);
  return FlushLocked();
}

absl::Status RecordWriter::FlushLocked() {
  if (file_ == nullptr || buffer_.empty()) return absl::OkStatus();
  const size_t size = buffer_.size();
  const size_t written = std::fwrite(buffer_.data(), 1, size, file_);
  buffer_.clear();
  if (written != size || std::fflush(file_) != 0) {
    return absl::InternalError(absl::StrCat("write failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace outboxd::fake_sentinel
