#include "api/worker_pool.h"

#include <latch>
#include <string>
#include <utility>

#include "outboxd/thread_name.h"

namespace outboxd {

WorkerPool::WorkerPool(int threads, size_t max_queued, std::string_view name,
                       const std::function<void()>& on_start)
    : max_queued_(max_queued) {
  const int count = threads < 1 ? 1 : threads;
  std::latch started(count);
  for (int i = 0; i < count; ++i) {
    threads_.emplace_back([this, prefix = std::string(name), i, &on_start, &started] {
      NameThisThread(prefix, i);
      if (on_start) on_start();
      started.count_down();  // `started` and `on_start` may be gone after this
      Run();
    });
  }
  started.wait();
}

WorkerPool::~WorkerPool() { Stop(); }

bool WorkerPool::TrySubmit(absl::AnyInvocable<void() &&> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(task));
  }
  work_.notify_one();
  return true;
}

void WorkerPool::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void WorkerPool::Run() {
  for (;;) {
    absl::AnyInvocable<void() &&> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(task)();
  }
}

}  // namespace outboxd
