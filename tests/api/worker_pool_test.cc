#include "api/worker_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/notification.h"
#include "gtest/gtest.h"
#include "outboxd/thread_name.h"

namespace outboxd {
namespace {

TEST(WorkerPoolTest, RunsEveryTaskFromManyThreads) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(4, 10'000);
    std::vector<std::thread> producers;
    for (int p = 0; p < 4; ++p) {
      producers.emplace_back([&pool, &ran] {
        for (int i = 0; i < 500; ++i) {
          ASSERT_TRUE(pool.TrySubmit([&ran] { ran.fetch_add(1); }));
        }
      });
    }
    for (std::thread& t : producers) t.join();
    pool.Stop();  // runs what is queued
  }
  EXPECT_EQ(ran.load(), 2000);
}

TEST(WorkerPoolTest, BoundedQueueRefusesWhenFull) {
  Notification started, release;
  WorkerPool pool(1, 2);
  ASSERT_TRUE(pool.TrySubmit([&] {
    started.Notify();
    release.Wait();
  }));
  ASSERT_TRUE(started.WaitFor(std::chrono::seconds(10)));
  // The worker is busy: two tasks may wait, the third is refused.
  std::atomic<int> ran{0};
  EXPECT_TRUE(pool.TrySubmit([&ran] { ran.fetch_add(1); }));
  EXPECT_TRUE(pool.TrySubmit([&ran] { ran.fetch_add(1); }));
  EXPECT_FALSE(pool.TrySubmit([&ran] { ran.fetch_add(100); }));
  release.Notify();
  pool.Stop();
  EXPECT_EQ(ran.load(), 2);
  EXPECT_FALSE(pool.TrySubmit([] {}));  // stopped
}

TEST(WorkerPoolTest, MoveOnlyTasks) {
  Notification done;
  int seen = 0;
  WorkerPool pool(1, 1);
  auto value = std::make_unique<int>(7);
  ASSERT_TRUE(pool.TrySubmit([v = std::move(value), &seen, &done] {
    seen = *v;
    done.Notify();
  }));
  ASSERT_TRUE(done.WaitFor(std::chrono::seconds(10)));
  EXPECT_EQ(seen, 7);
}

TEST(WorkerPoolTest, NamesItsThreads) {
  // What `top -H` and perf show for an ingest worker.
  Notification done;
  std::string name;
  WorkerPool pool(1, 1, "ingest");
  ASSERT_TRUE(pool.TrySubmit([&name, &done] {
    name = ThisThreadName();
    done.Notify();
  }));
  ASSERT_TRUE(done.WaitFor(std::chrono::seconds(10)));
  EXPECT_EQ(name, "ingest-0");
}

TEST(WorkerPoolTest, EveryWorkerRunsOnStartBeforeTheConstructorReturns) {
  // Setup such as prefaulting a worker's heap must be over before the pool
  // is handed work: the constructor waits for every worker's on_start.
  std::mutex mu;
  std::vector<std::string> names;
  WorkerPool pool(3, 10, "warm", [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::lock_guard<std::mutex> lock(mu);
    names.push_back(ThisThreadName());
  });
  {
    std::lock_guard<std::mutex> lock(mu);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"warm-0", "warm-1", "warm-2"}));
  }
  Notification done;
  ASSERT_TRUE(pool.TrySubmit([&] { done.Notify(); }));
  EXPECT_TRUE(done.WaitFor(std::chrono::seconds(10)));
}

TEST(ThreadNameTest, KeepsLinuxsFifteenBytes) {
  std::string name;
  std::thread t([&name] {
    NameThisThread("a-name-longer-than-fifteen", 3);
    name = ThisThreadName();
  });
  t.join();
  EXPECT_EQ(name, "a-name-longer-t");
}

}  // namespace
}  // namespace outboxd
