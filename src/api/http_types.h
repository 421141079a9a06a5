// The seam between the HTTP server (I/O) and the handler (decisions): a
// request fully read, a response to write, and the interfaces each side
// implements.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace outboxd {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path, optionally with "?query"
  std::string content_type;
  std::string content_encoding;
  std::string authorization;
  std::string body;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// Takes the response of one request. Called exactly once, from any thread.
using Responder = std::function<void(Response)>;

// Produces responses. Handle is called on an I/O thread and must not block:
// blocking work goes to an Executor.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  virtual void Handle(Request request, Responder respond) = 0;
};

// Runs blocking work off the I/O threads.
class Executor {
 public:
  virtual ~Executor() = default;
  // False, without running `task`, when the executor is full or stopped.
  virtual bool TrySubmit(absl::AnyInvocable<void() &&> task) = 0;
};

}  // namespace outboxd
