#include "kiln/kernels/selfcheck.h"

#include <cstdint>
#include <random>
#include <vector>

#include "kiln/kernels/dot.h"

namespace kiln::kernels {

std::vector<SelfCheckResult> run_selfcheck() {
  // Lengths cover empty input, every tail below one vector and long runs; operands cover the
  // extremes where a saturating instruction would go wrong (255 x 127, 255 x -128).
  const size_t lengths[] = {0, 1, 3, 15, 16, 17, 63, 64, 65, 127, 1000, 4099};
  std::mt19937 rng(42);
  std::vector<SelfCheckResult> results;
  for (Isa isa : compiled_isas()) {
    if (!cpu_supports(isa)) continue;
    SelfCheckResult r;
    r.isa = isa;
    r.ok = true;
    DotU8S8Fn dot = dot_u8s8_for(isa);
    size_t cases = 0;
    for (size_t n : lengths) {
      for (int pattern = 0; pattern < 4 && r.ok; ++pattern) {
        std::vector<uint8_t> a(n);
        std::vector<int8_t> b(n);
        for (size_t i = 0; i < n; ++i) {
          switch (pattern) {
            case 0: a[i] = 255; b[i] = 127; break;
            case 1: a[i] = 255; b[i] = -128; break;
            case 2: a[i] = 0; b[i] = -128; break;
            default:
              a[i] = static_cast<uint8_t>(rng());
              b[i] = static_cast<int8_t>(rng());
          }
        }
        const int32_t want = dot_u8s8__ref(a.data(), b.data(), n);
        const int32_t got = dot(a.data(), b.data(), n);
        ++cases;
        if (got != want) {
          r.ok = false;
          r.detail = "dot_u8s8 n=" + std::to_string(n) + " pattern " + std::to_string(pattern) +
                     ": got " + std::to_string(got) + ", want " + std::to_string(want);
        }
      }
    }
    if (r.ok) r.detail = "dot_u8s8: " + std::to_string(cases) + " cases exact";
    results.push_back(r);
  }
  return results;
}

}  // namespace kiln::kernels
