// Picks the micro-kernel instantiation for a tile's row count. Each ISA's tile template is
// instantiated once per row count 1..MR so that a short tile (the M tail) does no wasted work.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

namespace kiln::kernels {

// Calls run(std::integral_constant<int, M>{}) with M = min(mr, MR); mr >= 1.
template <int MR, class Run>
inline void dispatch_row_count(size_t mr, Run&& run) {
  const int m = mr >= static_cast<size_t>(MR) ? MR : static_cast<int>(mr);
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (void)((m == I + 1 ? (run(std::integral_constant<int, I + 1>{}), true) : false) || ...);
  }(std::make_integer_sequence<int, MR>{});
}

}  // namespace kiln::kernels
