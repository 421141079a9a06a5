// A blocking HTTP client for outboxd's API on libcurl's easy interface.
//
// Thread safety: one ApiClient per thread (a curl easy handle must not be
// shared); `send` creates one per connection. curl_global_init must have run
// before the first client is made (main() does it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace outboxd::ctl {

struct HttpResult {
  int status = 0;
  std::string body;
  std::optional<int64_t> retry_after_s;  // a Retry-After header in seconds
};

// The parts of an API error answer `{"error": ..., "field": ..., "line": ...}`.
struct ApiError {
  std::string message;
  std::optional<std::string> field;
  std::optional<int64_t> line;
};
// nullopt when `body` is not such an object.
std::optional<ApiError> ParseApiError(std::string_view body);

// "HTTP 400: must be a positive integer (field: company_id, line: 3)" from
// an API error answer `{"error": ..., ...details}`; the raw body when it is
// not one.
std::string DescribeApiError(const HttpResult& result);

class ApiClient {
 public:
  // `base_url` like "http://127.0.0.1:8400" (no trailing slash).
  ApiClient(std::string base_url, int64_t timeout_ms);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // Sends `method base_url+path` with `Authorization: Bearer token` (when
  // not empty) and `body` (when not empty, as `content_type`). Any answer is
  // a result; Unavailable when no answer arrived (connection refused,
  // timeout), with curl's explanation.
  absl::StatusOr<HttpResult> Call(std::string_view method, std::string_view path,
                                  std::string_view token, std::string_view body = {},
                                  std::string_view content_type = "application/json");

  const std::string& base_url() const { return base_url_; }

 private:
  std::string base_url_;
  int64_t timeout_ms_;
  void* curl_;  // CURL*, kept out of the header
};

}  // namespace outboxd::ctl
