// Child processes for tests that drive real binaries: start a server and
// read its "listening on HOST:PORT" line, stop it with SIGTERM (SIGKILL when
// it does not exit in time), or run a command to completion with stdin fed
// and stdout/stderr captured. Every wait is bounded.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace outboxd::testing {

struct ProcessResult {
  int exit_code = -1;  // -1: killed (signal or timeout)
  bool timed_out = false;
  std::string out;
  std::string err;
};

namespace process_internal {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// The current environment with `overrides` ("NAME=value", or "NAME=" to
// drop NAME) applied.
inline std::vector<std::string> Environment(const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  auto name_of = [](const std::string& kv) { return kv.substr(0, kv.find('=')); };
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    bool replaced = false;
    for (const std::string& o : overrides)
      replaced = replaced || name_of(o) == name_of(kv);
    if (!replaced) env.push_back(kv);
  }
  for (const std::string& o : overrides) {
    if (o.back() != '=') env.push_back(o);
  }
  return env;
}

inline std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> raw;
  for (std::string& s : strings) raw.push_back(s.data());
  raw.push_back(nullptr);
  return raw;
}

// Spawns argv with the given fds as stdin/stdout/stderr (-1: inherit).
inline pid_t Spawn(std::vector<std::string> argv,
                   const std::vector<std::string>& env_overrides, int in_fd, int out_fd,
                   int err_fd) {
  std::vector<std::string> env = Environment(env_overrides);
  std::vector<char*> raw_argv = Pointers(argv);
  std::vector<char*> raw_env = Pointers(env);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (in_fd >= 0) posix_spawn_file_actions_adddup2(&actions, in_fd, STDIN_FILENO);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  if (err_fd >= 0) posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  pid_t pid = -1;
  const int rc =
      posix_spawn(&pid, raw_argv[0], &actions, nullptr, raw_argv.data(), raw_env.data());
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

// Waits for `pid` until `deadline`; the exit code, -1 for a signal, nullopt
// when it is still running at the deadline.
inline std::optional<int> WaitUntil(pid_t pid, steady_clock::time_point deadline) {
  int status = 0;
  while (true) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r < 0) return -1;
    if (steady_clock::now() >= deadline) return std::nullopt;
    // Polling a condition with a deadline: waitpid has no timeout.
    std::this_thread::sleep_for(milliseconds(2));
  }
}

}  // namespace process_internal

// Runs `argv` (argv[0] a path) to completion: `input` on its stdin, its
// stdout and stderr captured. After `timeout` it is killed (timed_out).
inline ProcessResult RunProcess(
    const std::vector<std::string>& argv,
    const std::vector<std::string>& env_overrides = {}, std::string_view input = {},
    std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  using namespace process_internal;
  // A child that exits before reading all of `input` must not kill the test
  // with SIGPIPE; the write then just fails.
  signal(SIGPIPE, SIG_IGN);
  ProcessResult result;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
      pipe2(err, O_CLOEXEC) != 0) {
    return result;
  }
  const pid_t pid = Spawn(argv, env_overrides, in[0], out[1], err[1]);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (pid < 0) {
    close(in[1]), close(out[0]), close(err[0]);
    result.err = "cannot start " + argv[0];
    return result;
  }
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  const auto deadline = steady_clock::now() + timeout;
  size_t written = 0;
  int in_fd = in[1];
  if (input.empty()) close(in_fd), in_fd = -1;
  int fds[2] = {out[0], err[0]};
  std::string* sinks[2] = {&result.out, &result.err};
  while ((fds[0] >= 0 || fds[1] >= 0) && steady_clock::now() < deadline) {
    pollfd p[3] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}, {in_fd, POLLOUT, 0}};
    if (poll(p, 3, 50) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i] < 0 || p[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = read(fds[i], buffer, sizeof(buffer));
      if (n > 0) sinks[i]->append(buffer, static_cast<size_t>(n));
      if (n <= 0) close(fds[i]), fds[i] = -1;
    }
    if (in_fd >= 0 && p[2].revents != 0) {
      const ssize_t n = write(in_fd, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 || written == input.size()) close(in_fd), in_fd = -1;
    }
  }
  if (in_fd >= 0) close(in_fd);
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
  std::optional<int> code = WaitUntil(pid, deadline);
  if (!code) {
    kill(pid, SIGKILL);
    code = WaitUntil(pid, steady_clock::now() + std::chrono::seconds(10));
    result.timed_out = true;
  }
  result.exit_code = code.value_or(-1);
  return result;
}

// A long-running child (a server). Destroying it terminates it.
class ChildProcess {
 public:
  // Starts `argv` with stdout on a pipe (read by WaitForListening) and
  // stderr appended to `stderr_path` (inherited when empty).
  static std::unique_ptr<ChildProcess> Start(const std::vector<std::string>& argv,
                                             const std::string& stderr_path = "",
                                             const std::vector<std::string>& env = {}) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return nullptr;
    int err_fd = -1;
    if (!stderr_path.empty()) {
      err_fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    }
    std::unique_ptr<ChildProcess> child(new ChildProcess());
    child->pid_ = process_internal::Spawn(argv, env, -1, out[1], err_fd);
    close(out[1]);
    if (err_fd >= 0) close(err_fd);
    child->stdout_fd_ = out[0];
    if (child->pid_ < 0) return nullptr;
    return child;
  }

  ~ChildProcess() {
    Terminate();
    if (stdout_fd_ >= 0) close(stdout_fd_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads stdout until a line "listening on HOST:PORT"; its port, or 0 when
  // the child exits or `timeout` passes first. Earlier lines are skipped.
  uint16_t WaitForListening(
      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    using namespace process_internal;
    const auto deadline = steady_clock::now() + timeout;
    while (true) {
      for (size_t nl; (nl = pending_.find('\n')) != std::string::npos;) {
        const std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        const size_t colon = line.rfind(':');
        if (line.rfind("listening on ", 0) == 0 && colon != std::string::npos) {
          return static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
        }
      }
      const auto left =
          std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now())
              .count();
      if (left <= 0) return 0;
      pollfd p{stdout_fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buffer[512];
      const ssize_t n = read(stdout_fd_, buffer, sizeof(buffer));
      if (n <= 0) return 0;
      pending_.append(buffer, static_cast<size_t>(n));
    }
  }

  // SIGTERM, then SIGKILL after `grace`; the exit code, -1 when killed or
  // already gone.
  int Terminate(std::chrono::milliseconds grace = std::chrono::seconds(20)) {
    if (pid_ < 0) return -1;
    kill(pid_, SIGTERM);
    std::optional<int> code =
        process_internal::WaitUntil(pid_, process_internal::steady_clock::now() + grace);
    if (!code) {
      kill(pid_, SIGKILL);
      process_internal::WaitUntil(pid_, process_internal::steady_clock::now() + grace);
    }
    pid_ = -1;
    return code.value_or(-1);
  }

  pid_t pid() const { return pid_; }

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string pending_;
};

}  // namespace outboxd::testing
