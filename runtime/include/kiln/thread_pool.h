// A fixed-size thread pool for parallel-for over tiles. A pool of one thread starts no threads:
// the caller runs every task. The calling thread always takes part, so a pool of T threads
// starts T - 1 workers.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

#include "kiln/kernels/parallel.h"

namespace kiln {

class ThreadPool final : public kernels::TaskRunner {
 public:
  // threads <= 0 means one per hardware thread.
  explicit ThreadPool(int threads);
  ~ThreadPool() override;
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const override { return threads_; }
  // Runs task(context, i) for i in [0, count). Not reentrant: one run at a time per pool (calls
  // from several threads are serialised).
  void run(size_t count, TaskFn task, void* context) override;

  template <class F>
  void parallel_for(size_t count, F&& f) {
    kernels::parallel_for(this, count, std::forward<F>(f));
  }

 private:
  void worker_loop();
  void work_on_current_job();

  int threads_;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // serialises callers of run()
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // The current job; guarded by mutex_ except the index counter.
  TaskFn task_ = nullptr;
  void* context_ = nullptr;
  size_t count_ = 0;
  size_t next_ = 0;        // next task index to hand out (under mutex_)
  size_t finished_ = 0;    // tasks completed
  unsigned generation_ = 0;
  bool stop_ = false;
};

}  // namespace kiln
