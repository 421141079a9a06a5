// Cuts an NDJSON stream into request bodies for POST /v1/events, keeping
// every line (blank ones too) so the API's 1-based line number within a
// chunk maps back to the file: file line = first_line + api line - 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace outboxd::ctl {

struct ChunkLimits {
  size_t max_lines = 1000;
  size_t max_bytes = 4u << 20;  // a single longer line still makes one chunk
};

struct Chunk {
  std::string body;         // whole lines, each ending in '\n'
  uint64_t first_line = 1;  // the file line number of body's first line
  uint64_t events = 0;      // non-blank lines in body
};

// The file line of a line number the API reported for `chunk`.
inline uint64_t FileLine(const Chunk& chunk, int64_t api_line) {
  return chunk.first_line + static_cast<uint64_t>(api_line > 0 ? api_line - 1 : 0);
}

// Whether `line` (without its '\n') holds anything but spaces, tabs or '\r'.
bool IsEventLine(std::string_view line);

// Not thread-safe. Chunks of blank lines only are dropped (nothing to send),
// but their lines still count for the numbering of later ones.
class NdjsonChunker {
 public:
  explicit NdjsonChunker(ChunkLimits limits) : limits_(limits) {}

  // Feeds the next bytes of the stream; appends finished chunks to `out`.
  void Add(std::string_view data, std::vector<Chunk>* out);
  // Ends the stream: appends the last chunks (a final line may lack its
  // '\n'; it is sent with one).
  void Finish(std::vector<Chunk>* out);

 private:
  void AddLine(std::string_view line, std::vector<Chunk>* out);  // with its '\n'
  void Flush(std::vector<Chunk>* out);

  ChunkLimits limits_;
  std::string partial_;  // a line not yet ended
  Chunk current_;
  size_t current_lines_ = 0;
  uint64_t next_line_ = 1;  // file line number of the next line to add
};

}  // namespace outboxd::ctl
