#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kiln/calib/minmax_observer.h"

namespace kiln::calib {
namespace {

TEST(MinMaxObserver, TracksRangeAcrossBatchesAndSkipsNonFinite) {
  MinMaxObserver o;
  EXPECT_TRUE(o.empty());
  const float a[] = {1.5f, -2.0f, std::numeric_limits<float>::quiet_NaN()};
  const float b[] = {std::numeric_limits<float>::infinity(), 7.25f, 0.0f};
  o.observe(a, 3);
  o.observe(b, 3);
  EXPECT_FALSE(o.empty());
  EXPECT_EQ(o.min(), -2.0f);
  EXPECT_EQ(o.max(), 7.25f);
  EXPECT_EQ(o.non_finite(), 2u);
}

}  // namespace
}  // namespace kiln::calib
