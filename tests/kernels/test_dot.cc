#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "kiln/kernels/dot.h"
#include "kiln/kernels/isa.h"

namespace kiln::kernels {
namespace {

// Every ISA this build has and this CPU (or emulator) runs, exactly equal to the scalar loop.
TEST(DotU8S8, EveryIsaMatchesReferenceExactly) {
  std::mt19937 rng(7);
  int isas_run = 0;
  for (Isa isa : compiled_isas()) {
    if (!cpu_supports(isa)) continue;
    ++isas_run;
    DotU8S8Fn dot = dot_u8s8_for(isa);
    ASSERT_NE(dot, nullptr) << isa_name(isa);
    for (size_t n = 0; n <= 300; n += (n < 130 ? 1 : 37)) {
      for (int pattern = 0; pattern < 3; ++pattern) {
        std::vector<uint8_t> a(n);
        std::vector<int8_t> b(n);
        for (size_t i = 0; i < n; ++i) {
          a[i] = pattern == 0 ? 255 : static_cast<uint8_t>(rng());
          b[i] = pattern == 0 ? 127 : pattern == 1 ? -128 : static_cast<int8_t>(rng());
        }
        // Reference as a plain 64-bit sum, independent of dot_u8s8__ref.
        int64_t want = 0;
        for (size_t i = 0; i < n; ++i) want += int64_t{a[i]} * int64_t{b[i]};
        EXPECT_EQ(dot(a.data(), b.data(), n), want) << isa_name(isa) << " n=" << n << " pattern=" << pattern;
      }
    }
  }
  EXPECT_GE(isas_run, 2) << "expected at least ref and one SIMD path in every lane";
}

}  // namespace
}  // namespace kiln::kernels
