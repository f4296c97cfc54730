// The instruction-set paths kiln's kernels are written for, and the choice among them.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace kiln::kernels {

enum class Isa { ref, avx2, avx512vnni, neondot, i8mm };

std::string_view isa_name(Isa isa);
// Parses "ref", "avx2", ...; false for anything else.
bool parse_isa(std::string_view name, Isa* out);

// The ISAs whose kernels this build contains, in order of preference (fastest first, ref last).
std::span<const Isa> compiled_isas();
// Whether this CPU can run the ISA's kernels (in the emulated AVX-512 build, the emulated ISA counts).
bool cpu_supports(Isa isa);
// True when this build runs the AVX-512 VNNI kernels through SIMDe on an AVX2 CPU.
bool avx512_is_emulated();

struct IsaChoice {
  bool ok = false;
  Isa isa = Isa::ref;
  bool forced = false;  // picked by KILN_ISA
  std::string error;    // why not ok
};

// Picks the fastest compiled ISA the CPU supports, or the one named by `forced` (the KILN_ISA
// value when called as choose_isa()). Naming an unknown, uncompiled or unsupported ISA is an error.
IsaChoice choose_isa(std::string_view forced);
IsaChoice choose_isa();  // reads KILN_ISA from the environment

}  // namespace kiln::kernels
