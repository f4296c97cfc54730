// How kernels (GEMM and convolution drivers) spread tiles over threads without depending on the
// runtime: the runtime's ThreadPool implements TaskRunner, and nullptr means "run inline".
#pragma once

#include <cstddef>
#include <type_traits>

namespace kiln::kernels {

class TaskRunner {
 public:
  using TaskFn = void (*)(void* context, size_t index);

  virtual ~TaskRunner() = default;
  // The number of threads that run tasks, the calling thread included.
  virtual int threads() const = 0;
  // Runs task(context, i) for every i in [0, count) and returns when all have finished.
  virtual void run(size_t count, TaskFn task, void* context) = 0;
};

// Runs f(i) for i in [0, count) on `runner`, or inline when runner is null or count is 1.
template <class F>
void parallel_for(TaskRunner* runner, size_t count, F&& f) {
  using Fn = std::remove_reference_t<F>;
  if (runner == nullptr || runner->threads() <= 1 || count <= 1) {
    for (size_t i = 0; i < count; ++i) f(i);
    return;
  }
  runner->run(count, [](void* ctx, size_t i) { (*static_cast<Fn*>(ctx))(i); }, &f);
}

}  // namespace kiln::kernels
