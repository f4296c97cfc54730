// CPU features that decide which kernels kiln may run, read once at run time.
#pragma once

#include <string>

namespace kiln::kernels {

struct CpuFeatures {
  // x86-64
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx_vnni = false;  // the VEX-encoded VNNI of Alder Lake and later
  // aarch64
  bool neon = false;
  bool dotprod = false;  // asimddp: sdot/udot
  bool i8mm = false;     // smmla/ummla/usmmla/usdot

  // "avx2 fma avx512vnni ..." for what is present, or "none".
  std::string to_string() const;
};

// The features of the CPU this process runs on, including operating-system support for the
// register state (XSAVE) on x86. Computed on first use; thread-safe.
const CpuFeatures& cpu_features();

}  // namespace kiln::kernels
