// A fixed-size thread pool for parallel-for over tiles. A pool of one thread starts no threads:
// the caller runs every task. The calling thread always takes part, so a pool of T threads
// starts T - 1 workers.
//
// Inference calls run() once per layer, often every few tens of microseconds, and a sleeping
// thread takes tens of microseconds to wake (more in a VM). So workers spin on the job counter for
// a while after each job (kSpinMicros) before they sleep on a condition variable, and the caller
// spins while the last tasks finish: back-to-back layers never pay a wake-up. Task indices are
// handed out by an atomic counter.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
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

  // How long an idle worker polls for the next job before it sleeps.
  static constexpr int64_t kSpinMicros = 200;

 private:
  void worker_loop();
  // Waits until the job generation differs from `seen` (or stop); returns false on stop.
  bool wait_for_job(uint64_t seen);
  // Claims and runs task indices of the job described by (task, context, count) until none are left.
  void drain(TaskFn task, void* context, size_t count);

  int threads_;
  int64_t spin_micros_ = kSpinMicros;  // 0 when the pool has more threads than the machine has cores
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // serialises callers of run()
  // The current job. Written by run() under mutex_ while no worker is inside a job (active_ == 0);
  // a worker copies it under mutex_ and counts itself in active_ before it claims indices.
  std::mutex mutex_;
  std::condition_variable wake_;
  TaskFn task_ = nullptr;
  void* context_ = nullptr;
  size_t count_ = 0;
  int sleepers_ = 0;  // workers waiting on wake_ (under mutex_)
  std::atomic<uint64_t> generation_{0};
  std::atomic<size_t> next_{0};      // next task index to hand out
  std::atomic<size_t> finished_{0};  // tasks completed in the current job
  std::atomic<int> active_{0};       // workers that copied the current job and have not let go of it
  std::atomic<bool> stop_{false};
};

}  // namespace kiln
