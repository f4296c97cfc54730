#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "kiln/kernels/cpu_features.h"
#include "kiln/kernels/isa.h"

namespace kiln::kernels {
namespace {

TEST(Isa, NamesRoundTrip) {
  for (Isa isa : {Isa::ref, Isa::avx2, Isa::avx512vnni, Isa::neondot, Isa::i8mm}) {
    Isa parsed;
    ASSERT_TRUE(parse_isa(isa_name(isa), &parsed));
    EXPECT_EQ(parsed, isa);
  }
  Isa parsed;
  EXPECT_FALSE(parse_isa("sse2", &parsed));
  EXPECT_FALSE(parse_isa("", &parsed));
}

TEST(Isa, DefaultChoiceIsFastestSupported) {
  const IsaChoice c = choose_isa("");
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_FALSE(c.forced);
  EXPECT_TRUE(cpu_supports(c.isa));
  // Nothing earlier in the preference list is supported.
  for (Isa isa : compiled_isas()) {
    if (isa == c.isa) break;
    EXPECT_FALSE(cpu_supports(isa)) << isa_name(isa);
  }
}

TEST(Isa, ForcingRefAlwaysWorks) {
  const IsaChoice c = choose_isa("ref");
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_EQ(c.isa, Isa::ref);
  EXPECT_TRUE(c.forced);
}

TEST(Isa, ForcingUnknownOrUnavailableFailsWithReason) {
  IsaChoice c = choose_isa("sse9");
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.error.find("not an ISA"), std::string::npos) << c.error;
  for (Isa isa : {Isa::avx2, Isa::avx512vnni, Isa::neondot, Isa::i8mm}) {
    c = choose_isa(isa_name(isa));
    bool compiled = false;
    for (Isa x : compiled_isas()) compiled = compiled || x == isa;
    if (compiled && cpu_supports(isa)) {
      EXPECT_TRUE(c.ok) << c.error;
      EXPECT_EQ(c.isa, isa);
    } else {
      EXPECT_FALSE(c.ok) << isa_name(isa);
      EXPECT_FALSE(c.error.empty());
    }
  }
}

// The lane scripts set KILN_EXPECT_ISA to the path a CPU model must get: i8mm under
// qemu -cpu max, neondot under -cpu neoverse-n1, avx512vnni in the emulated lane.
TEST(Isa, LaneGetsExpectedPath) {
  const char* expect = std::getenv("KILN_EXPECT_ISA");
  if (expect == nullptr) GTEST_SKIP() << "KILN_EXPECT_ISA not set (only the lane scripts set it)";
  const IsaChoice c = choose_isa("");
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_EQ(isa_name(c.isa), std::string(expect)) << "cpu features: " << cpu_features().to_string();
}

}  // namespace
}  // namespace kiln::kernels
