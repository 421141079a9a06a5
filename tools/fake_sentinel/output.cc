#include "output.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "checks.h"
#include "simdjson.h"

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

// The end of the JSON string that opens at s[0] (one past its closing
// quote), or npos.
size_t StringEnd(std::string_view s) {
  for (size_t i = 1; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

}  // namespace

std::string RecordId(std::string_view record) {
  // The fast path: what outboxd's records start with when the producer
  // put the id first.
  constexpr std::string_view kLead = "{\"id\":";
  if (record.starts_with(kLead) && record.size() > kLead.size() &&
      record[kLead.size()] == '"') {
    const std::string_view rest = record.substr(kLead.size());
    if (const size_t end = StringEnd(rest); end != std::string_view::npos) {
      return std::string(rest.substr(0, end));
    }
  }
  thread_local simdjson::ondemand::parser parser;
  const simdjson::padded_string padded(record);
  simdjson::ondemand::document doc;
  std::string_view raw;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.find_field("id").raw_json_token().get(raw) != simdjson::SUCCESS) {
    return "null";
  }
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n')) raw.remove_suffix(1);
  return std::string(raw);
}

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
  if (ids) {
    for (const std::string& record : records) {
      buffer_.append(prefix).append(RecordId(record)).append(kLineEnd);
    }
  } else {
    for (const std::string& record : records) {
      buffer_.append(prefix).append(record).append(kLineEnd);
    }
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
