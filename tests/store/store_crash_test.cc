// SIGKILL suite: a child process (this binary, re-executed) enqueues and
// removes deliveries in synced batches and reports each batch to the parent
// through a pipe: first what it is about to apply, then an acknowledgement
// once Apply returned OK. The parent kills it at a random moment (or the
// child kills itself at a named crash point), reopens the store and checks:
//   - every acknowledged delivery is there, every acknowledged removal held;
//   - the one batch in flight is all-or-nothing (and, at the named points,
//     exactly "nothing" before the write and "all" after it);
//   - queued counts match the deliveries (they are in the same batch);
//   - sequence numbers handed out after the restart exceed all earlier ones.
// The child also checkpoints its log-only deliveries and flushes now and
// then, and two named points sit inside the checkpoint and the restore.
// Bounded: 36 rounds, each child killed within ~50 ms of its first ack.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"
#include "outboxd/store.h"
#include "store_test_util.h"

extern char** environ;

namespace outboxd {
namespace {

using store_test::ScratchDir;
using store_test::TestOptions;
using SteadyClock = std::chrono::steady_clock;

constexpr char kChildDirEnv[] = "OUTBOXD_CRASH_CHILD_DIR";
constexpr int kChildFd = 3;  // the pipe's write end in the child
constexpr uint64_t kIntegrations = 3;
constexpr auto kRoundDeadline = std::chrono::seconds(20);

enum Tag : uint64_t { kEnqueue = 1, kRemove = 2, kAck = 3 };

// One pipe record; a batch's intent is one write() of <= PIPE_BUF bytes, so
// the parent never sees half of it.
struct Record {
  uint64_t tag;
  uint64_t batch;
  uint64_t integration_id;
  int64_t due_ms;
  uint64_t seq;
};
static_assert(sizeof(Record) * 40 <= PIPE_BUF);

void WriteAll(int fd, const std::vector<Record>& records) {
  const char* p = reinterpret_cast<const char*>(records.data());
  size_t left = records.size() * sizeof(Record);
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(5);
    p += n;
    left -= static_cast<size_t>(n);
  }
}

// The child: runs until killed. Not a test on its own (DISABLED_); the
// parent runs it with --gtest_also_run_disabled_tests.
TEST(StoreCrashChild, DISABLED_Run) {
  const char* dir = std::getenv(kChildDirEnv);
  if (dir == nullptr) GTEST_SKIP() << "only run by StoreCrashTest";
  auto opened = OutboxStore::Open(TestOptions(dir, /*sync=*/true));
  if (!opened.ok()) ::_exit(3);
  OutboxStore& store = **opened;
  std::mt19937_64 rng(static_cast<uint64_t>(::getpid()));
  std::vector<DeliveryKey> mine;  // acknowledged here, not removed yet
  const std::string event(200, 'e');
  for (uint64_t batch = 1;; ++batch) {
    Changes c = store.NewChanges();
    std::vector<Record> intent;
    std::vector<DeliveryKey> added;
    for (uint64_t i = 0, n = 1 + rng() % 20; i < n; ++i) {
      DeliveryKey k = c.Enqueue(rng() % kIntegrations, "new_hits", event,
                                static_cast<TimeMs>(rng() % 1'000'000), 0);
      added.push_back(k);
      intent.push_back({kEnqueue, batch, k.integration_id, k.due_ms, k.seq});
    }
    for (uint64_t i = 0, n = rng() % 6; i < n && !mine.empty(); ++i) {
      const size_t at = rng() % mine.size();
      const DeliveryKey k = mine[at];
      mine[at] = mine.back();
      mine.pop_back();
      c.Remove(k);
      intent.push_back({kRemove, batch, k.integration_id, k.due_ms, k.seq});
    }
    WriteAll(kChildFd, intent);
    if (!store.Apply(std::move(c)).ok()) ::_exit(4);
    mine.insert(mine.end(), added.begin(), added.end());
    WriteAll(kChildFd, {Record{kAck, batch, 0, 0, 0}});
    // Log-only deliveries (the lists are armed by the first write): now and
    // then a checkpoint of the archive, and a flush, which rewrites them
    // all and lets RocksDB archive the WAL files.
    if (batch % 7 == 0 &&
        !store.Checkpoint(OutboxStore::CheckpointScope::kArchived).ok()) {
      ::_exit(6);
    }
    if (batch % 13 == 0 && !store.Flush().ok()) ::_exit(7);
  }
}

struct KeyHash {
  size_t operator()(const DeliveryKey& k) const { return std::hash<uint64_t>()(k.seq); }
};
using KeySet = absl::flat_hash_set<DeliveryKey, KeyHash>;

pid_t SpawnChild(const std::string& dir, int write_fd, const std::string& crash_at) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view var(*e);
    if (var.starts_with("GTEST_") || var.starts_with("OUTBOXD_CRASH")) continue;
    env_strings.emplace_back(var);
  }
  env_strings.push_back(std::string(kChildDirEnv) + "=" + dir);
  if (!crash_at.empty()) env_strings.push_back("OUTBOXD_CRASH_AT=" + crash_at);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe";
  std::string filter = "--gtest_filter=StoreCrashChild.DISABLED_Run";
  std::string also = "--gtest_also_run_disabled_tests";
  char* argv[] = {exe.data(), filter.data(), also.data(), nullptr};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, write_fd, kChildFd);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

// What the parent learned from one child's pipe.
struct ChildLog {
  std::vector<Record> records;
  std::string partial;
  size_t acks = 0;

  // Reads what is available; false at EOF.
  bool ReadSome(int fd) {
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    partial.append(buf, static_cast<size_t>(n));
    while (partial.size() >= sizeof(Record)) {
      Record r;
      std::memcpy(&r, partial.data(), sizeof(r));
      partial.erase(0, sizeof(r));
      records.push_back(r);
      if (r.tag == kAck) ++acks;
    }
    return true;
  }
};

// Reads until EOF or `until`; returns false on EOF.
bool Pump(int fd, ChildLog& log, SteadyClock::time_point until, bool stop_at_first_ack) {
  while (SteadyClock::now() < until) {
    if (stop_at_first_ack && log.acks > 0) return true;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyClock::now());
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 1)));
    if (ready > 0 && !log.ReadSome(fd)) return false;
  }
  return true;
}

class StoreCrashTest : public ::testing::Test {
 protected:
  enum class Expect { kEither, kNotApplied, kApplied };

  // One child life: returns its log after it died by SIGKILL.
  ChildLog RunChild(const std::string& crash_at, int kill_after_ms) {
    ChildLog log;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2";
      return log;
    }
    const int write_fd = ::fcntl(fds[1], F_DUPFD_CLOEXEC, 10);
    ::close(fds[1]);
    const pid_t pid = SpawnChild(dir_.path(), write_fd, crash_at);
    ::close(write_fd);
    EXPECT_GT(pid, 0);
    if (pid <= 0) {
      ::close(fds[0]);
      return log;
    }
    const auto deadline = SteadyClock::now() + kRoundDeadline;
    if (kill_after_ms >= 0) {
      // Kill a random moment after the child is up and writing.
      Pump(fds[0], log, deadline, /*stop_at_first_ack=*/true);
      EXPECT_GT(log.acks, 0u) << "child never acknowledged a batch";
      Pump(fds[0], log, SteadyClock::now() + std::chrono::milliseconds(kill_after_ms),
           false);
      ::kill(pid, SIGKILL);
    }
    while (Pump(fds[0], log, deadline, false) && SteadyClock::now() < deadline) {
    }
    ::close(fds[0]);
    int status = 0;
    if (SteadyClock::now() >= deadline) ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "child status " << status;
    return log;
  }

  // Folds the child's log into the model and checks the reopened store.
  void Verify(const ChildLog& log, Expect expect) {
    KeySet pending_add;
    KeySet pending_remove;
    uint64_t pending_batch = 0;
    for (const Record& r : log.records) {
      max_seq_ = std::max(max_seq_, r.seq);
      if (r.tag == kAck) {
        ASSERT_EQ(r.batch, pending_batch);
        for (const DeliveryKey& k : pending_add) present_.insert(k);
        for (const DeliveryKey& k : pending_remove) present_.erase(k);
        pending_add.clear();
        pending_remove.clear();
        continue;
      }
      pending_batch = r.batch;
      const DeliveryKey k{r.integration_id, r.due_ms, r.seq};
      (r.tag == kEnqueue ? pending_add : pending_remove).insert(k);
    }
    auto opened = OutboxStore::Open(TestOptions(dir_.path()));
    ASSERT_TRUE(opened.ok()) << opened.status();
    OutboxStore& store = **opened;
    KeySet found;
    for (uint64_t id = 0; id < kIntegrations; ++id) {
      for (const Delivery& d : store_test::ScanEverything(store, id)) found.insert(d.key);
    }
    // The batch in flight: all of it or none of it.
    if (!pending_add.empty()) {
      const bool applied = found.contains(*pending_add.begin());
      for (const DeliveryKey& k : pending_add) EXPECT_EQ(found.contains(k), applied);
      for (const DeliveryKey& k : pending_remove) EXPECT_EQ(found.contains(k), !applied);
      if (expect != Expect::kEither) {
        EXPECT_EQ(applied, expect == Expect::kApplied);
      }
      if (applied) {
        for (const DeliveryKey& k : pending_add) present_.insert(k);
        for (const DeliveryKey& k : pending_remove) present_.erase(k);
      }
    }
    for (const DeliveryKey& k : present_) {
      EXPECT_TRUE(found.contains(k)) << "lost acknowledged seq " << k.seq;
    }
    EXPECT_EQ(found.size(), present_.size());
    for (uint64_t id = 0; id < kIntegrations; ++id) {
      size_t n = 0;
      for (const DeliveryKey& k : present_) n += k.integration_id == id;
      EXPECT_EQ(store.QueuedCount(id), n) << "integration " << id;
    }
    EXPECT_GT(store.NewChanges().Enqueue(0, "t", "e", 0, 0).seq, max_seq_);
    ++rounds_;
  }

  ScratchDir dir_;
  KeySet present_;
  uint64_t max_seq_ = 0;
  int rounds_ = 0;
  std::mt19937_64 rng_{20240501};
};

TEST_F(StoreCrashTest, AcknowledgedBatchesSurviveSigkill) {
  for (int round = 0; round < 20; ++round) {
    const int kill_after_ms = 5 + static_cast<int>(rng_() % 46);
    ChildLog log = RunChild("", kill_after_ms);
    ASSERT_NO_FATAL_FAILURE(Verify(log, Expect::kEither));
  }
  EXPECT_GT(present_.size(), 0u);
}

TEST_F(StoreCrashTest, NamedCrashPointsSplitTheBatchExactly) {
  for (int round = 0; round < 10; ++round) {
    const bool after = round % 2 == 0;
    const int nth = 1 + static_cast<int>(rng_() % 15);
    const std::string point =
        std::string(after ? "store.apply.after_write:" : "store.apply.before_write:") +
        std::to_string(nth);
    ChildLog log = RunChild(point, -1);
    EXPECT_EQ(log.acks, static_cast<size_t>(nth - 1)) << point;
    ASSERT_NO_FATAL_FAILURE(Verify(log, after ? Expect::kApplied : Expect::kNotApplied));
  }
}

// Killed between a checkpoint's rewrite and its deletion of the archive,
// or between the restore's Puts and its deletion at open (a second child
// restores what the first, killed, left, and dies there): the next open
// restores each log-only delivery once and loses none.
TEST_F(StoreCrashTest, CrashPointsInCheckpointAndRestoreLoseNothing) {
  for (int round = 0; round < 6; ++round) {
    if (round % 2 == 0) {
      const std::string point =
          "store.checkpoint.before_delete:" + std::to_string(1 + round);
      ChildLog log = RunChild(point, -1);
      ASSERT_NO_FATAL_FAILURE(Verify(log, Expect::kEither)) << point;
      continue;
    }
    ChildLog log = RunChild("", 5 + static_cast<int>(rng_() % 46));
    ChildLog reopened = RunChild("store.restore.before_delete:1", -1);
    EXPECT_EQ(reopened.acks, 0u);
    ASSERT_NO_FATAL_FAILURE(Verify(log, Expect::kEither));
  }
  EXPECT_GT(present_.size(), 0u);
}

}  // namespace
}  // namespace outboxd
