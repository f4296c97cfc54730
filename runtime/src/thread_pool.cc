#include "kiln/thread_pool.h"

#include <algorithm>

namespace kiln {

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_ = threads;
  workers_.reserve(static_cast<size_t>(threads_ - 1));
  for (int i = 1; i < threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

// Takes task indices one at a time until none are left. Tiles are coarse (the drivers make a few
// per thread), so a mutex-protected counter costs nothing measurable and keeps the code simple.
void ThreadPool::work_on_current_job() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (next_ < count_) {
    const size_t i = next_++;
    TaskFn task = task_;
    void* context = context_;
    lock.unlock();
    task(context, i);
    lock.lock();
    if (++finished_ == count_) done_.notify_all();
  }
}

void ThreadPool::worker_loop() {
  unsigned seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    work_on_current_job();
  }
}

void ThreadPool::run(size_t count, TaskFn task, void* context) {
  if (count == 0) return;
  if (threads_ == 1) {
    for (size_t i = 0; i < count; ++i) task(context, i);
    return;
  }
  std::lock_guard<std::mutex> serial(run_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = task;
    context_ = context;
    count_ = count;
    next_ = 0;
    finished_ = 0;
    ++generation_;
  }
  wake_.notify_all();
  work_on_current_job();
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return finished_ == count_; });
  task_ = nullptr;
  context_ = nullptr;
  count_ = 0;
  next_ = 0;
}

}  // namespace kiln
