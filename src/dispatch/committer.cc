#include "dispatch/committer.h"

#include "outboxd/thread_name.h"

namespace outboxd {

ThreadCommitter::ThreadCommitter(OutboxStore* store,
                                 std::function<void(std::function<void()>)> post, int threads)
    : store_(store), post_(std::move(post)) {
  for (int i = 0; i < threads; ++i) {
    workers_.emplace_back([this, i] {
      NameThisThread("commit", i);
      Run();
    });
  }
}

ThreadCommitter::~ThreadCommitter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadCommitter::Commit(Changes changes, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.emplace_back(std::move(changes), std::move(done));
  }
  cv_.notify_one();
}

void ThreadCommitter::Run() {
  for (;;) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and drained
    auto [changes, done] = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    absl::Status status = store_->Apply(std::move(changes), OutboxStore::Sync::kDeferred);
    post_([done = std::move(done), status]() mutable { done(status); });
  }
}

}  // namespace outboxd
