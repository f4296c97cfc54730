// The memory planner: places every intermediate tensor of one inference in a single arena so that
// tensors whose lifetimes overlap never share bytes, and reuses memory otherwise.
#pragma once

#include <cstddef>
#include <vector>

namespace kiln {

struct BufferLifetime {
  size_t bytes = 0;
  int first = 0;  // step that writes it
  int last = 0;   // last step that reads it (inclusive)
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // per buffer, 64-byte aligned
  size_t arena_bytes = 0;       // the peak: the arena's size
};

// Greedy best fit, largest buffers first: each buffer goes to the lowest offset that does not
// overlap (in bytes) any already placed buffer whose lifetime overlaps its own.
MemoryPlan plan_memory(const std::vector<BufferLifetime>& buffers);

}  // namespace kiln
