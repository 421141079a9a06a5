#include "transport/test_support.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "checks.h"
#include "simdjson.h"

extern char** environ;

namespace outboxd::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Reads the child's stdout until a full "listening on HOST:PORT" line.
absl::StatusOr<uint16_t> ReadPort(int fd, milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  std::string text;
  while (true) {
    const size_t newline = text.find('\n');
    if (newline != std::string::npos) {
      const std::string line = text.substr(0, newline);
      const size_t colon = line.rfind(':');
      if (line.rfind("listening on ", 0) != 0 || colon == std::string::npos) {
        return absl::InternalError(absl::StrCat("unexpected output: ", line));
      }
      return static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
    }
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    if (left <= 0) return absl::DeadlineExceededError("fake_sentinel did not start");
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buffer[256];
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) return absl::InternalError("fake_sentinel exited before listening");
    text.append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace

TimeMs WallClock::NowMs() const {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TempDir::TempDir() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "outboxd-transport-XXXXXX").string();
  path_ = mkdtemp(pattern.data());
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

absl::StatusOr<std::unique_ptr<FakeSentinel>> FakeSentinel::Start(
    const std::vector<std::string>& args, const std::vector<std::string>& launcher) {
  std::unique_ptr<FakeSentinel> fake(new FakeSentinel());
  fake->dir_ = std::make_unique<TempDir>();
  fake->out_path_ = fake->dir_->Path("records.ndjson");
  std::vector<std::string> argv = {FAKE_SENTINEL_PATH,
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--out",
                                   fake->out_path_,
                                   "--workspace",
                                   absl::StrCat(kWorkspace, "=", kKey)};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.begin(), launcher.begin(), launcher.end());
  std::vector<char*> raw;
  for (std::string& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  const int rc = posix_spawn(&fake->pid_, raw[0], &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  fake->stdout_fd_ = pipe_fds[0];
  if (rc != 0) {
    fake->pid_ = -1;
    return absl::InternalError(absl::StrCat("cannot start ", raw[0]));
  }
  absl::StatusOr<uint16_t> port = ReadPort(fake->stdout_fd_, milliseconds(10000));
  if (!port.ok()) return port.status();
  fake->port_ = *port;
  return fake;
}

FakeSentinel::~FakeSentinel() {
  Terminate();
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

int FakeSentinel::Terminate() {
  if (pid_ < 0) return -1;
  kill(pid_, SIGTERM);
  const auto deadline = steady_clock::now() + std::chrono::seconds(10);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(milliseconds(2));  // polling a condition, bounded
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string FakeSentinel::Url(const std::string& path_and_query) const {
  return absl::StrCat("http://127.0.0.1:", port_, path_and_query);
}

std::vector<std::string> FakeSentinel::WaitForRecords(size_t n,
                                                      milliseconds timeout) const {
  const auto deadline = steady_clock::now() + timeout;
  std::vector<std::string> lines;
  while (true) {
    lines.clear();
    std::ifstream in(out_path_);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    if (lines.size() >= n || steady_clock::now() > deadline) return lines;
    // The fake flushes every 100 ms; poll the file until then, bounded.
    std::this_thread::sleep_for(milliseconds(5));
  }
}

bool RunUntil(boost::asio::io_context& io, const std::function<bool()>& done,
              milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  while (!done() && steady_clock::now() < deadline) {
    if (io.stopped()) io.restart();
    io.run_one_for(milliseconds(20));
  }
  return done();
}

HttpRequest SignedPost(const std::string& url, const std::string& body,
                       const std::string& log_type, const std::string& workspace,
                       const std::string& key_base64) {
  using fake_sentinel::Base64Decode;
  const std::string date = fake_sentinel::FormatRfc1123(WallClock().NowMs());
  const std::string key = Base64Decode(key_base64).value_or("");
  HttpRequest request;
  request.url = url;
  request.body = body;
  request.headers = {
      {"Content-Type", "application/json"},
      {"Log-Type", log_type},
      {"x-ms-date", date},
      {"Authorization",
       absl::StrCat("SharedKey ", workspace, ":",
                    fake_sentinel::SharedKeySignature(key, body.size(), date))},
  };
  return request;
}

HttpResponse Fetch(boost::asio::io_context& io, Transport& transport,
                   HttpRequest request) {
  // Shared with the callback, which may outlive this call if it times out.
  struct Result {
    bool done = false;
    HttpResponse response;
  };
  auto result = std::make_shared<Result>();
  transport.Send(std::move(request), [result](HttpResponse r) {
    result->response = std::move(r);
    result->done = true;
  });
  if (!RunUntil(io, [&] { return result->done; })) {
    HttpResponse none;
    none.transport_error = "test: no answer in time";
    return none;
  }
  return std::move(result->response);
}

int64_t JsonInt(const std::string& json, const char* field) {
  simdjson::dom::parser parser;
  int64_t value = -1;
  simdjson::dom::element doc;
  if (parser.parse(json).get(doc) != simdjson::SUCCESS) return -1;
  if (doc[field].get(value) != simdjson::SUCCESS) return -1;
  return value;
}

}  // namespace outboxd::testing
