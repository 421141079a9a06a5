// Helpers for the transport tests: fake_sentinel as a real child process, a
// temporary directory, a wall clock, bounded waits, signed requests.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "outboxd/clock.h"
#include "outboxd/transport.h"

namespace outboxd::testing {

inline constexpr char kWorkspace[] = "0b9c3c2e-54f5-4f2e-9a39-0d8d7a6f1c11";
// base64("secret-key-1234567890")
inline constexpr char kKey[] = "c2VjcmV0LWtleS0xMjM0NTY3ODkw";
// base64("another-key")
inline constexpr char kWrongKey[] = "YW5vdGhlci1rZXk=";

class WallClock final : public Clock {
 public:
  TimeMs NowMs() const override;
};

// A directory removed with everything in it when the object goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string Path(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// fake_sentinel (FAKE_SENTINEL_PATH) running as a child process.
class FakeSentinel {
 public:
  // Starts it with `args` plus --listen 127.0.0.1:0, --workspace
  // kWorkspace=kKey and --out <temp>/records.ndjson, and waits (bounded) for
  // its "listening on" line.
  // `launcher` (optional) runs it, e.g. {"/usr/bin/prlimit", "--nofile=32:32"}.
  static absl::StatusOr<std::unique_ptr<FakeSentinel>> Start(
      const std::vector<std::string>& args = {}, const std::vector<std::string>& launcher = {});
  // SIGTERM, then SIGKILL if it does not exit in time.
  ~FakeSentinel();

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string Url(const std::string& path_and_query) const;
  std::string LogsUrl() const { return Url("/api/logs?api-version=2016-04-01"); }
  const std::string& out_path() const { return out_path_; }
  const TempDir& dir() const { return *dir_; }

  // Lines of the NDJSON out file once it has at least `n` (waits up to
  // `timeout`; fewer lines on timeout).
  std::vector<std::string> WaitForRecords(
      size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  // SIGTERM and wait (bounded); the exit code, or -1 when it had to be killed.
  int Terminate();

 private:
  FakeSentinel() = default;
  std::unique_ptr<TempDir> dir_;
  std::string out_path_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  uint16_t port_ = 0;
};

// Runs `io` until `done()` is true or `timeout` passes; returns done().
bool RunUntil(boost::asio::io_context& io, const std::function<bool()>& done,
              std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A Data Collector request signed now with `key_base64` for `workspace`.
HttpRequest SignedPost(const std::string& url, const std::string& body,
                       const std::string& log_type = "create_user",
                       const std::string& workspace = kWorkspace,
                       const std::string& key_base64 = kKey);

// Sends one request and runs `io` until its answer (bounded).
HttpResponse Fetch(boost::asio::io_context& io, Transport& transport,
                   HttpRequest request);

// An integer field of a flat JSON object (GET /stats), or -1.
int64_t JsonInt(const std::string& json, const char* field);

}  // namespace outboxd::testing
