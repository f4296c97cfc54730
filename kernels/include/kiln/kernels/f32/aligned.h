// A std::allocator replacement that aligns every allocation to 64 bytes (one cache line, one zmm
// register), so that packed weights keep their alignment when containers are copied.
#pragma once

#include <cstddef>
#include <new>

namespace kiln::kernels::f32 {

template <class T, size_t Align = 64>
struct AlignedAllocator {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = AlignedAllocator<U, Align>;
  };

  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U, Align>&) {}

  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(Align))); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(Align)); }

  template <class U>
  bool operator==(const AlignedAllocator<U, Align>&) const {
    return true;
  }
};

}  // namespace kiln::kernels::f32
