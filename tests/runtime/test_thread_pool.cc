#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "kiln/thread_pool.h"

namespace kiln {
namespace {

TEST(ThreadPool, OneThreadRunsInlineInOrder) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.threads(), 1);
  const std::thread::id caller = std::this_thread::get_id();
  std::vector<size_t> order;
  pool.parallel_for(10, [&](size_t i) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    order.push_back(i);
  });
  ASSERT_EQ(order.size(), 10u);
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], i);
}

TEST(ThreadPool, EveryIndexRunsExactlyOnce) {
  for (int threads : {2, 3, 8}) {
    ThreadPool pool(threads);
    for (size_t count : {0u, 1u, 2u, 7u, 1000u}) {
      std::vector<std::atomic<int>> hits(count);
      pool.parallel_for(count, [&](size_t i) { hits[i].fetch_add(1); });
      for (size_t i = 0; i < count; ++i) EXPECT_EQ(hits[i].load(), 1) << threads << " " << count << " " << i;
    }
  }
}

// How many threads ran a two-task job in which each task waits until both have started, which
// only two threads can satisfy.
size_t threads_in_two_task_job(ThreadPool& pool) {
  std::mutex m;
  std::set<std::thread::id> ids;
  std::atomic<int> arrived{0};
  pool.parallel_for(2, [&](size_t) {
    arrived.fetch_add(1);
    while (arrived.load() < 2) std::this_thread::yield();
    std::lock_guard<std::mutex> lock(m);
    ids.insert(std::this_thread::get_id());
  });
  return ids.size();
}

TEST(ThreadPool, UsesSeveralThreads) {
  ThreadPool pool(2);
  EXPECT_EQ(threads_in_two_task_job(pool), 2u);
}

TEST(ThreadPool, ManyRunsBackToBack) {
  ThreadPool pool(4);
  std::atomic<long> sum{0};
  for (int run = 0; run < 2000; ++run) pool.parallel_for(5, [&](size_t i) { sum.fetch_add(static_cast<long>(i)); });
  EXPECT_EQ(sum.load(), 2000L * 10);
}

// Workers poll for kSpinMicros after a job, then sleep: jobs after a long pause must wake them and
// still use every thread; a mix of back-to-back and spaced-out jobs must run every index once.
TEST(ThreadPool, WakesSleepingWorkers) {
  ThreadPool pool(2);
  for (int run = 0; run < 6; ++run) {
    if (run % 2 == 1) std::this_thread::sleep_for(std::chrono::microseconds(4 * ThreadPool::kSpinMicros));
    EXPECT_EQ(threads_in_two_task_job(pool), 2u) << "run " << run;
  }
}

// A task's writes are visible to the caller when run() returns (the tasks' plain stores, no atomics).
TEST(ThreadPool, TaskWritesVisibleAfterRun) {
  ThreadPool pool(2);
  std::vector<int> out(64);
  for (int run = 0; run < 500; ++run) {
    pool.parallel_for(out.size(), [&](size_t i) { out[i] = run + static_cast<int>(i); });
    for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], run + static_cast<int>(i));
  }
}

TEST(ThreadPool, ConcurrentCallersAreSerialised) {
  ThreadPool pool(2);
  std::atomic<long> sum{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c) {
    callers.emplace_back([&] {
      for (int run = 0; run < 200; ++run) pool.parallel_for(4, [&](size_t) { sum.fetch_add(1); });
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(sum.load(), 3L * 200 * 4);
}

}  // namespace
}  // namespace kiln
