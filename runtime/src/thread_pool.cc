#include "kiln/thread_pool.h"

#include <algorithm>
#include <chrono>

namespace kiln {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

// Polls until done() or until `micros` have passed; true if done() became true. The clock is read
// every 64 polls (a pause is tens of cycles, a clock read about as much).
template <class Done>
bool spin_until(Done done, int64_t micros) {
  if (micros <= 0) return done();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(micros);
  for (unsigned i = 1;; ++i) {
    if (done()) return true;
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline) return done();
  }
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (threads <= 0) threads = hardware;
  threads_ = threads;
  // More threads than cores: a spinning worker would take the core a working one needs.
  spin_micros_ = threads_ <= hardware ? kSpinMicros : 0;
  workers_.reserve(static_cast<size_t>(threads_ - 1));
  for (int i = 1; i < threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::drain(TaskFn task, void* context, size_t count) {
  for (size_t i = next_.fetch_add(1, std::memory_order_relaxed); i < count;
       i = next_.fetch_add(1, std::memory_order_relaxed)) {
    task(context, i);
    finished_.fetch_add(1, std::memory_order_release);
  }
}

bool ThreadPool::wait_for_job(uint64_t seen) {
  auto ready = [&] {
    return stop_.load(std::memory_order_relaxed) || generation_.load(std::memory_order_acquire) != seen;
  };
  if (!spin_until(ready, spin_micros_)) {
    std::unique_lock<std::mutex> lock(mutex_);
    ++sleepers_;
    wake_.wait(lock, ready);
    --sleepers_;
  }
  return !stop_.load();
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  while (wait_for_job(seen)) {
    TaskFn task;
    void* context;
    size_t count;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      seen = generation_.load(std::memory_order_relaxed);
      task = task_;
      context = context_;
      count = count_;
      active_.fetch_add(1, std::memory_order_relaxed);
    }
    drain(task, context, count);
    active_.fetch_sub(1, std::memory_order_release);
  }
}

void ThreadPool::run(size_t count, TaskFn task, void* context) {
  if (count == 0) return;
  if (threads_ == 1) {
    for (size_t i = 0; i < count; ++i) task(context, i);
    return;
  }
  std::lock_guard<std::mutex> serial(run_mutex_);
  bool notify;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    // A worker that copied the previous job may still be about to claim an index of it: the
    // counters are reset only once every worker has let go.
    while (active_.load(std::memory_order_acquire) != 0) {
      lock.unlock();
      cpu_relax();
      lock.lock();
    }
    task_ = task;
    context_ = context;
    count_ = count;
    next_.store(0, std::memory_order_relaxed);
    finished_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    notify = sleepers_ > 0;
  }
  if (notify) wake_.notify_all();
  drain(task, context, count);
  // The other threads' last tasks: spin briefly, then let them have the core.
  auto done = [&] { return finished_.load(std::memory_order_acquire) == count; };
  while (!spin_until(done, spin_micros_)) std::this_thread::yield();
}

}  // namespace kiln
