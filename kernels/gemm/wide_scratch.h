// The calling thread's buffer for one widened-B block (GemmConfig::widen_block), shared by the GEMM
// and convolution drivers: grown, never shrunk. nullptr when it cannot be allocated, and the
// caller then runs the config's plain kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#include "kiln/kernels/pack.h"

namespace kiln::kernels {

inline uint8_t* wide_block_scratch(size_t bytes) {
  thread_local AlignedBuffer buffer;
  if (buffer.size() < bytes) {
    try {
      buffer = AlignedBuffer(bytes);
    } catch (const std::bad_alloc&) {
      return nullptr;
    }
  }
  return static_cast<uint8_t*>(buffer.data());
}

}  // namespace kiln::kernels
