#include "checks.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "simdjson.h"

namespace outboxd::fake_sentinel {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::array<std::string_view, 12> kMonths = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kWeekdays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};

absl::string_view A(std::string_view s) { return ToAbsl(s); }
std::string_view S(absl::string_view s) { return ToStd(s); }

int Base64Value(char c) {
  const size_t pos = kAlphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

Verdict Reject(int status, std::string_view code, std::string_view message) {
  Verdict v;
  v.status = status;
  v.error = std::string(code);
  v.message = std::string(message);
  return v;
}

Verdict Unauthorized(std::string_view message) {
  return Reject(403, "InvalidAuthorization", message);
}

// "application/json", optionally with parameters such as "; charset=utf-8".
bool IsJsonContentType(std::string_view value) {
  std::string_view media = value.substr(0, value.find(';'));
  return absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(A(media)), "application/json");
}

// Authorization, workspace and signature. nullopt when they are right.
std::optional<Verdict> CheckAuthorization(const LogsRequest& request,
                                          const WorkspaceKeys& keys, TimeMs now_ms,
                                          std::string* workspace) {
  absl::string_view prefixed = A(request.authorization);
  if (!absl::ConsumePrefix(&prefixed, "SharedKey ")) {
    return Unauthorized("Authorization must be 'SharedKey <workspace>:<signature>'");
  }
  const std::string_view credentials = S(prefixed);
  const size_t colon = credentials.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Unauthorized("Authorization must be 'SharedKey <workspace>:<signature>'");
  }
  *workspace = std::string(credentials.substr(0, colon));
  std::string_view signature = credentials.substr(colon + 1);
  std::string_view host_label = request.host.substr(0, request.host.find('.'));
  if (IsGuid(host_label) && !absl::EqualsIgnoreCase(A(host_label), *workspace)) {
    return Unauthorized("the Host names another workspace than Authorization");
  }
  const std::string* key = keys.KeyFor(*workspace);
  if (key == nullptr) return Unauthorized("unknown workspace");
  if (request.date.empty()) return Unauthorized("x-ms-date is missing");
  std::optional<TimeMs> date = ParseRfc1123(request.date);
  if (!date) return Unauthorized("x-ms-date is not an RFC 1123 date");
  if (*date > now_ms + kMaxClockSkewMs || *date < now_ms - kMaxClockSkewMs) {
    return Unauthorized("x-ms-date is more than 15 minutes from now");
  }
  const std::string expected =
      SharedKeySignature(*key, request.body.size(), request.date);
  if (expected.size() != signature.size() ||
      CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) != 0) {
    return Unauthorized("signature mismatch");
  }
  return std::nullopt;
}

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The index just past the closing quote of the string opening at `open`, or
// npos when it is not closed.
size_t StringEnd(std::string_view text, size_t open) {
  size_t from = open + 1;
  while (from < text.size()) {
    const void* hit = std::memchr(text.data() + from, '"', text.size() - from);
    if (hit == nullptr) break;
    const size_t quote = static_cast<size_t>(static_cast<const char*>(hit) - text.data());
    size_t backslashes = 0;
    while (quote - backslashes > open + 1 && text[quote - backslashes - 1] == '\\') {
      ++backslashes;
    }
    if (backslashes % 2 == 0) return quote + 1;
    from = quote + 1;
  }
  return std::string_view::npos;
}

// Bytes outside strings that SplitJsonArray acts on: quotes, brackets,
// commas and whitespace. Everything else (digits, letters, ':') is copied.
constexpr std::array<bool, 256> kSplitStops = [] {
  std::array<bool, 256> stops{};
  for (unsigned char c : std::string_view("\"{}[], \t\n\r")) stops[c] = true;
  return stops;
}();

// Parses the body; on success fills `records`.
std::optional<Verdict> CheckBody(std::string_view body, OutFormat keep,
                                 std::vector<std::string>* records) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size(), true).get(doc) != simdjson::SUCCESS) {
    return Reject(400, "InvalidDataFormat", "the body is not valid JSON");
  }
  simdjson::dom::array array;
  if (doc.get_array().get(array) != simdjson::SUCCESS) {
    return Reject(400, "InvalidDataFormat", "the body must be a JSON array of records");
  }
  size_t index = 0;
  for (simdjson::dom::element record : array) {
    if (!record.is_object()) {
      return Reject(400, "InvalidDataFormat",
                    absl::StrCat("record ", index, " is not a JSON object"));
    }
    bool reject = false;
    if (record["reject"].get(reject) == simdjson::SUCCESS && reject) {
      return Reject(400, "InvalidDataFormat",
                    absl::StrCat("record ", index, " is marked \"reject\": true"));
    }
    ++index;
  }
  *records = RecordsToKeep(body, array, keep);
  return std::nullopt;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    uint32_t group = 0;
    for (size_t j = 0; j < 4; ++j) {
      const bool pad = last && j >= 4 - padding;
      const int value = pad ? 0 : Base64Value(text[i + j]);
      if (value < 0) return std::nullopt;
      group = (group << 6) | static_cast<uint32_t>(value);
    }
    const size_t keep = last ? 3 - padding : 3;
    // Non-canonical encodings (bits set in the padding) are rejected.
    if (last && padding > 0 && (group & ((1u << (8 * padding)) - 1)) != 0) {
      return std::nullopt;
    }
    for (size_t j = 0; j < keep; ++j)
      out.push_back(static_cast<char>(group >> (16 - 8 * j)));
  }
  return out;
}

std::string SharedKeySignature(std::string_view key, uint64_t content_length,
                               std::string_view date) {
  const std::string message = absl::StrCat(
      "POST\n", content_length, "\napplication/json\nx-ms-date:", A(date), "\n/api/logs");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest,
       &digest_length);
  return Base64Encode(
      std::string_view(reinterpret_cast<const char*>(digest), digest_length));
}

std::string FormatRfc1123(TimeMs t) {
  const time_t seconds = static_cast<time_t>(t / kSecondMs);
  tm parts{};
  gmtime_r(&seconds, &parts);
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                kWeekdays[parts.tm_wday].data(), parts.tm_mday,
                kMonths[parts.tm_mon].data(), parts.tm_year + 1900, parts.tm_hour,
                parts.tm_min, parts.tm_sec);
  return buffer;
}

std::optional<TimeMs> ParseRfc1123(std::string_view text) {
  // Fixed layout: "Www, DD Mon YYYY HH:MM:SS GMT" (29 characters).
  if (text.size() != 29 || text.substr(3, 2) != ", " || text.substr(25) != " GMT") {
    return std::nullopt;
  }
  const std::string copy(text);
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  char month[4] = {};
  int consumed = 0;
  if (std::sscanf(copy.c_str() + 5, "%2d %3s %4d %2d:%2d:%2d GMT%n", &day, month, &year,
                  &hour, &minute, &second, &consumed) != 6 ||
      consumed != 24) {
    return std::nullopt;
  }
  tm parts{};
  parts.tm_mon = -1;
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (kMonths[i] == month) parts.tm_mon = static_cast<int>(i);
  }
  if (parts.tm_mon < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60) {
    return std::nullopt;
  }
  parts.tm_mday = day;
  parts.tm_year = year - 1900;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  const time_t seconds = timegm(&parts);
  if (kWeekdays[parts.tm_wday] != text.substr(0, 3)) return std::nullopt;
  return static_cast<TimeMs>(seconds) * kSecondMs;
}

bool IsGuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !absl::ascii_isxdigit(text[i])) return false;
  }
  return true;
}

bool IsValidLogType(std::string_view log_type) {
  if (log_type.empty() || log_type.size() > kMaxLogTypeLength) return false;
  for (char c : log_type) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

bool SplitJsonArray(std::string_view text, std::vector<std::string>* elements) {
  const size_t n = text.size();
  size_t i = 0;
  auto skip_space = [&] {
    while (i < n && IsJsonSpace(text[i])) ++i;
  };
  skip_space();
  if (i == n || text[i] != '[') return false;
  ++i;
  skip_space();
  if (i < n && text[i] == ']') return true;
  std::string element;
  size_t run = i;  // where the bytes not yet copied into `element` start
  int depth = 0;   // of the element being read
  while (i < n) {
    while (i < n && !kSplitStops[static_cast<unsigned char>(text[i])]) ++i;
    if (i == n) break;
    const char c = text[i];
    if (c == '"') {
      i = StringEnd(text, i);
      if (i == std::string_view::npos) return false;
    } else if (IsJsonSpace(c)) {
      element.append(text.data() + run, i - run);
      run = ++i;
    } else if (depth == 0 && (c == ',' || c == ']')) {
      element.append(text.data() + run, i - run);
      elements->push_back(std::move(element));
      element.clear();
      ++i;
      if (c == ']') return true;
      skip_space();
      run = i;
    } else {
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') --depth;
      ++i;
    }
  }
  return false;
}

std::vector<std::string> MinifiedElements(std::string_view array_text,
                                          const simdjson::dom::array& array) {
  std::vector<std::string> elements;
  elements.reserve(array.size());
  if (SplitJsonArray(array_text, &elements) && elements.size() == array.size()) {
    return elements;
  }
  // Not reached for text simdjson accepted; kept so a splitter bug costs
  // speed, never a wrong record.
  elements.clear();
  for (simdjson::dom::element element : array) {
    elements.push_back(simdjson::minify(element));
  }
  return elements;
}

std::string JsonQuote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escape[8];
          std::snprintf(escape, sizeof(escape), "\\u%04x", c);
          out += escape;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::vector<std::string> RecordsToKeep(std::string_view array_text,
                                       const simdjson::dom::array& array,
                                       OutFormat keep) {
  if (keep == OutFormat::kRecords) return MinifiedElements(array_text, array);
  std::vector<std::string> ids;
  ids.reserve(array.size());
  for (simdjson::dom::element record : array) {
    simdjson::dom::element id;
    std::string_view text;
    if (record["id"].get(id) != simdjson::SUCCESS) {
      ids.emplace_back("null");
    } else if (id.get_string().get(text) == simdjson::SUCCESS) {
      ids.push_back(JsonQuote(text));
    } else {
      ids.push_back(simdjson::minify(id));
    }
  }
  return ids;
}

std::string ErrorBody(std::string_view code, std::string_view message) {
  return absl::StrCat("{\"Error\":", JsonQuote(code), ",\"Message\":", JsonQuote(message),
                      "}");
}

absl::Status WorkspaceKeys::Add(std::string_view workspace, std::string_view key_base64) {
  if (workspace.empty()) return absl::InvalidArgumentError("empty workspace id");
  std::optional<std::string> key = Base64Decode(key_base64);
  if (!key) {
    return absl::InvalidArgumentError(
        absl::StrCat("key of ", A(workspace), " is not base64"));
  }
  keys_[absl::AsciiStrToLower(A(workspace))] = *std::move(key);
  return absl::OkStatus();
}

absl::Status WorkspaceKeys::SetAnyWorkspaceKey(std::string_view key_base64) {
  std::optional<std::string> key = Base64Decode(key_base64);
  if (!key) return absl::InvalidArgumentError("--any-workspace key is not base64");
  any_key_ = *std::move(key);
  return absl::OkStatus();
}

absl::Status WorkspaceKeys::AddLines(std::string_view text) {
  for (absl::string_view line : absl::StrSplit(A(text), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat("expected 'ID KEY': ", line));
    }
    if (absl::Status s = Add(S(fields[0]), S(fields[1])); !s.ok()) return s;
  }
  return absl::OkStatus();
}

const std::string* WorkspaceKeys::KeyFor(std::string_view workspace) const {
  auto it = keys_.find(absl::AsciiStrToLower(A(workspace)));
  if (it != keys_.end()) return &it->second;
  if (any_key_ && IsGuid(workspace)) return &*any_key_;
  return nullptr;
}

std::string Verdict::Body() const {
  return ok() ? std::string() : ErrorBody(error, message);
}

std::string_view TargetPath(std::string_view target) {
  return target.substr(0, target.find('?'));
}

std::optional<std::string_view> QueryParam(std::string_view target,
                                           std::string_view name) {
  const size_t question = target.find('?');
  if (question == std::string_view::npos) return std::nullopt;
  for (absl::string_view piece : absl::StrSplit(A(target.substr(question + 1)), '&')) {
    const std::string_view pair = S(piece);
    const std::string_view key = pair.substr(0, pair.find('='));
    if (key != name) continue;
    return key.size() == pair.size() ? std::string_view() : pair.substr(key.size() + 1);
  }
  return std::nullopt;
}

Verdict CheckLogsRequest(const LogsRequest& request, const WorkspaceKeys& keys,
                         TimeMs now_ms, OutFormat keep) {
  if (request.method != "POST") {
    return Reject(405, "MethodNotAllowed", "the Data Collector API takes POST only");
  }
  std::optional<std::string_view> version = QueryParam(request.target, "api-version");
  if (!version) return Reject(400, "MissingApiVersion", "api-version is missing");
  if (*version != kApiVersion) {
    return Reject(400, "InvalidApiVersion", "api-version must be 2016-04-01");
  }
  std::string workspace;
  if (auto denied = CheckAuthorization(request, keys, now_ms, &workspace)) return *denied;
  if (!IsJsonContentType(request.content_type)) {
    return Reject(400, "InvalidContentType", "Content-Type must be application/json");
  }
  if (request.log_type.empty()) {
    return Reject(400, "MissingLogType", "the Log-Type header is missing");
  }
  if (!IsValidLogType(request.log_type)) {
    return Reject(400, "InvalidLogType",
                  "Log-Type may contain letters, digits and _ only, at most 100");
  }
  if (request.body.size() > kMaxBodyBytes) {
    return Reject(413, "RequestEntityTooLarge", "the body is larger than 30 MB");
  }
  Verdict verdict;
  if (auto bad = CheckBody(request.body, keep, &verdict.records)) return *bad;
  verdict.workspace = std::move(workspace);
  verdict.log_type = std::string(request.log_type);
  return verdict;
}

}  // namespace outboxd::fake_sentinel
