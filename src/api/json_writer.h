// A small streaming JSON writer for API responses and storage records.
//
// Commas and nesting are tracked for the caller; strings are escaped so the
// output is always valid JSON, even for bytes that are not valid UTF-8 (each
// such byte is written as \u00XX). Not thread-safe.
//
// Example:
//   JsonWriter w;
//   w.BeginObject().Key("accepted").Uint(3).Key("field").Null().EndObject();
//   std::string body = std::move(w).Take();   // {"accepted":3,"field":null}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace outboxd {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);

  JsonWriter& String(std::string_view value);
  JsonWriter& OptionalString(const std::optional<std::string>& value);  // null when unset
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Double(double value);  // non-finite values are written as null
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  const std::string& str() const { return out_; }
  std::string Take() && { return std::move(out_); }

 private:
  void BeforeValue();

  std::string out_;
  std::vector<bool> has_elements_;  // one entry per open object or array
  bool after_key_ = false;
};

// Appends `value` as a quoted, escaped JSON string.
void AppendJsonString(std::string* out, std::string_view value);

// At most `max_bytes` of `text`, cut on a UTF-8 character boundary, with
// "..." appended when shortened. For quoting user input in error messages.
std::string Abbreviate(std::string_view text, size_t max_bytes = 64);

}  // namespace outboxd
