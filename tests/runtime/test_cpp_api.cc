// The C++ wrapper (kiln.hpp) over the C API: load, run, read outputs, errors as values.
#include <gtest/gtest.h>

#include "kiln/kiln.hpp"
#include "npy_util.h"

namespace {

TEST(CppApi, ClassifiesWithTheWrapper) {
  const std::string dir = KILN_TEST_MODELS_DIR;
  kiln::api::LoadedModel model = kiln::api::Model::load(dir + "/mobilenetv2.kiln");
  ASSERT_TRUE(model) << model.error();
  EXPECT_EQ(model.input_names(), std::vector<std::string>{"input"});
  EXPECT_EQ(model.input_shape(0), (std::vector<int64_t>{1, 3, 64, 64}));
  kiln::test::NpyF32 in, want;
  std::string err;
  ASSERT_TRUE(kiln::test::read_npy_f32(dir + "/mobilenetv2.input.npy", &in, &err)) << err;
  ASSERT_TRUE(kiln::test::read_npy_f32(dir + "/mobilenetv2.output.npy", &want, &err)) << err;
  kiln::api::Session session(model, 2);
  ASSERT_TRUE(session) << session.error();
  ASSERT_TRUE(session.set_input("input", in.data.data(), {1, 3, 64, 64}));
  const kiln::api::Error e = session.run();
  ASSERT_TRUE(e) << e.message();
  const kiln_tensor_view y = session.output("output");
  ASSERT_NE(y.data, nullptr);
  for (size_t i = 0; i < want.data.size(); ++i) EXPECT_NEAR(static_cast<const float*>(y.data)[i], want.data[i], 1e-4f);
  EXPECT_EQ(session.output("nope").data, nullptr);
  const kiln::api::Error bad = session.set_input("input", in.data.data(), {1, 3, 32, 64});
  EXPECT_FALSE(bad);
  EXPECT_NE(bad.message().find("expects"), std::string::npos) << bad.message();
  kiln::api::LoadedModel missing = kiln::api::Model::load(dir + "/no_such.kiln");
  EXPECT_FALSE(missing);
  EXPECT_NE(missing.error().find("no_such.kiln"), std::string::npos);
  const char junk[] = "not a model";
  kiln::api::LoadedModel bad_bytes = kiln::api::Model::load(junk, sizeof(junk));
  EXPECT_FALSE(bad_bytes);
  EXPECT_FALSE(bad_bytes.error().empty());
}

}  // namespace
