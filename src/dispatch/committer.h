// Where the dispatcher's store batches are applied. The dispatcher's loop
// thread must not wait for an fsync, so production commits on worker threads
// (RocksDB group-commits them together) and posts the completion back;
// tests commit inline for determinism. Both apply with Sync::kDeferred: an
// outcome (delivered, retry, dead) a power loss undoes is decided again, and
// the fsync comes with the next ingest write or the daemon's once-a-second
// SyncDeferred instead of one per commit (docs/storage.md, "What is synced").
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "outboxd/store.h"

namespace outboxd {

class Committer {
 public:
  using Done = std::function<void(absl::Status)>;
  virtual ~Committer() = default;
  // Applies `changes`; `done` runs on the dispatcher's loop thread afterwards.
  virtual void Commit(Changes changes, Done done) = 0;
};

// Applies on the calling thread and calls `done` before returning.
class InlineCommitter final : public Committer {
 public:
  explicit InlineCommitter(OutboxStore* store) : store_(store) {}
  void Commit(Changes changes, Done done) override {
    done(store_->Apply(std::move(changes), OutboxStore::Sync::kDeferred));
  }

 private:
  OutboxStore* store_;
};

// Applies on `threads` worker threads; completions go through `post`, which
// must run the function on the dispatcher's loop thread.
class ThreadCommitter final : public Committer {
 public:
  ThreadCommitter(OutboxStore* store, std::function<void(std::function<void()>)> post,
                  int threads = 4);
  ~ThreadCommitter() override;  // finishes queued commits, then joins
  void Commit(Changes changes, Done done) override;

 private:
  void Run();

  OutboxStore* store_;
  std::function<void(std::function<void()>)> post_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<Changes, Done>> queue_;  // guarded by mu_
  bool stop_ = false;                           // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace outboxd
