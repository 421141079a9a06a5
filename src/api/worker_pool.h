// A fixed set of threads running blocking tasks (Service calls that wait on
// an fsync) from a bounded queue, so I/O threads never block and overload
// becomes a fast 503 instead of unbounded memory.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "api/http_types.h"

namespace outboxd {

class WorkerPool final : public Executor {
 public:
  // `threads` >= 1 workers, named `name`-0, `name`-1 ...; at most
  // `max_queued` tasks wait for a worker. Each worker first runs
  // `on_start` (when set), and the constructor returns once all of them
  // have: per-thread setup such as prefaulting the worker's malloc heap is
  // done before the pool takes work.
  WorkerPool(int threads, size_t max_queued, std::string_view name = "worker",
             const std::function<void()>& on_start = nullptr);
  ~WorkerPool() override;  // Stop()

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Thread-safe. False when `max_queued` tasks are waiting or after Stop().
  bool TrySubmit(absl::AnyInvocable<void() &&> task) override;

  // Refuses new tasks, runs those already queued, joins the workers.
  // Idempotent; must not be called from a worker.
  void Stop();

 private:
  void Run();

  const size_t max_queued_;
  // A plain condition variable, not outboxd::Mutex's Await: Await wakes
  // every waiter on every unlock, and with 16 idle workers each task cost
  // dozens of futex wake-ups and context switches. Here a task wakes one.
  std::mutex mu_;
  std::condition_variable work_;
  std::deque<absl::AnyInvocable<void() &&>> queue_;  // guarded by mu_
  bool stopping_ = false;                            // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace outboxd
