#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "kiln/kiln.h"

namespace {

TEST(CApi, VersionIsSemver) {
  const std::string v = kiln_version();
  EXPECT_EQ(std::count(v.begin(), v.end(), '.'), 2) << v;
}

TEST(CApi, IsaHonoursOverride) {
  const char* saved = std::getenv("KILN_ISA");
  const std::string keep = saved ? saved : "";
  setenv("KILN_ISA", "ref", 1);
  ASSERT_NE(kiln_isa(), nullptr);
  EXPECT_STREQ(kiln_isa(), "ref");
  setenv("KILN_ISA", "no-such-isa", 1);
  EXPECT_EQ(kiln_isa(), nullptr);
  EXPECT_NE(std::string(kiln_last_error()).find("no-such-isa"), std::string::npos);
  if (saved) setenv("KILN_ISA", keep.c_str(), 1); else unsetenv("KILN_ISA");
  EXPECT_NE(kiln_isa(), nullptr);
}

}  // namespace
