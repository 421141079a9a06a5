#include "api_client.h"

#include <curl/curl.h>

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "outboxd/strings.h"
#include "simdjson.h"

namespace outboxd::ctl {
namespace {

namespace dom = simdjson::dom;

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// Picks "Retry-After: <seconds>" out of the header lines.
size_t ReadHeader(char* data, size_t size, size_t count, void* user) {
  const absl::string_view line(data, size * count);
  constexpr absl::string_view kName = "retry-after:";
  if (line.size() > kName.size() &&
      absl::EqualsIgnoreCase(line.substr(0, kName.size()), kName)) {
    int64_t seconds = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(kName.size())),
                         &seconds) &&
        seconds >= 0) {
      *static_cast<std::optional<int64_t>*>(user) = seconds;
    }
  }
  return size * count;
}

// A JSON value as text: strings unquoted, anything else minified.
std::string ValueText(dom::element value) {
  std::string_view text;
  if (value.get_string().get(text) == simdjson::SUCCESS) return std::string(text);
  return simdjson::minify(value);
}

}  // namespace

std::optional<ApiError> ParseApiError(std::string_view body) {
  dom::parser parser;
  dom::object object;
  std::string_view text;
  const simdjson::padded_string padded(body);
  if (parser.parse(padded).get(object) != simdjson::SUCCESS ||
      object["error"].get_string().get(text) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  ApiError error;
  error.message = std::string(text);
  if (object["field"].get_string().get(text) == simdjson::SUCCESS)
    error.field = std::string(text);
  int64_t line = 0;
  if (object["line"].get_int64().get(line) == simdjson::SUCCESS) error.line = line;
  return error;
}

std::string DescribeApiError(const HttpResult& result) {
  std::string out = absl::StrCat("HTTP ", result.status);
  dom::parser parser;
  dom::object object;
  std::string_view message;
  const simdjson::padded_string padded(result.body);
  if (parser.parse(padded).get(object) != simdjson::SUCCESS ||
      object["error"].get_string().get(message) != simdjson::SUCCESS) {
    const std::string body(absl::StripAsciiWhitespace(result.body));
    return body.empty() ? out : absl::StrCat(out, ": ", body);
  }
  absl::StrAppend(&out, ": ", Sv(message));
  std::vector<std::string> details;
  for (dom::key_value_pair field : object) {
    if (field.key == "error" || field.value.is_null()) continue;
    details.push_back(absl::StrCat(Sv(field.key), ": ", ValueText(field.value)));
  }
  if (!details.empty()) absl::StrAppend(&out, " (", absl::StrJoin(details, ", "), ")");
  return out;
}

ApiClient::ApiClient(std::string base_url, int64_t timeout_ms)
    : base_url_(std::move(base_url)), timeout_ms_(timeout_ms), curl_(curl_easy_init()) {}

ApiClient::~ApiClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

absl::StatusOr<HttpResult> ApiClient::Call(std::string_view method, std::string_view path,
                                           std::string_view token, std::string_view body,
                                           std::string_view content_type) {
  CURL* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  curl_easy_reset(curl);
  const std::string url = absl::StrCat(base_url_, Sv(path));
  const std::string verb(method);
  HttpResult result;
  curl_slist* headers = nullptr;
  if (!token.empty()) {
    headers = curl_slist_append(
        headers, absl::StrCat("Authorization: Bearer ", Sv(token)).c_str());
  }
  if (!body.empty()) {
    headers = curl_slist_append(headers,
                                absl::StrCat("Content-Type: ", Sv(content_type)).c_str());
  }
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, verb.c_str());
  if (method == "GET") curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  if (method != "GET") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.empty() ? "" : body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms_));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10'000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ReadHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.retry_after_s);
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  const CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach outboxd at ", base_url_, ": ",
                     error[0] != '\0' ? error : curl_easy_strerror(code)));
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  result.status = static_cast<int>(status);
  return result;
}

}  // namespace outboxd::ctl
