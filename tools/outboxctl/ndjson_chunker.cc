#include "ndjson_chunker.h"

#include <utility>

namespace outboxd::ctl {

bool IsEventLine(std::string_view line) {
  return line.find_first_not_of(" \t\r") != std::string_view::npos;
}

void NdjsonChunker::Add(std::string_view data, std::vector<Chunk>* out) {
  while (!data.empty()) {
    const size_t newline = data.find('\n');
    if (newline == std::string_view::npos) {
      partial_.append(data);
      return;
    }
    if (partial_.empty()) {
      AddLine(data.substr(0, newline + 1), out);
    } else {
      partial_.append(data.substr(0, newline + 1));
      AddLine(partial_, out);
      partial_.clear();
    }
    data.remove_prefix(newline + 1);
  }
}

void NdjsonChunker::Finish(std::vector<Chunk>* out) {
  if (!partial_.empty()) {
    partial_.push_back('\n');
    AddLine(partial_, out);
    partial_.clear();
  }
  Flush(out);
}

void NdjsonChunker::AddLine(std::string_view line, std::vector<Chunk>* out) {
  if (current_lines_ > 0 && current_.body.size() + line.size() > limits_.max_bytes)
    Flush(out);
  if (current_lines_ == 0) current_.first_line = next_line_;
  current_.body.append(line);
  if (IsEventLine(line.substr(0, line.size() - 1))) ++current_.events;
  ++current_lines_;
  ++next_line_;
  if (current_lines_ >= limits_.max_lines || current_.body.size() >= limits_.max_bytes) {
    Flush(out);
  }
}

void NdjsonChunker::Flush(std::vector<Chunk>* out) {
  if (current_lines_ == 0) return;
  if (current_.events > 0) out->push_back(std::move(current_));
  current_ = Chunk();
  current_lines_ = 0;
}

}  // namespace outboxd::ctl
