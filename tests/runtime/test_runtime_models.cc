// The test models through the deployable runtime alone (.kiln files; this suite runs in the
// aarch64 lane too), and sessions shared across threads.
#include <gtest/gtest.h>

#include <thread>

#include "kiln/format/kiln_file.h"
#include "model_check.h"

namespace kiln::test {
namespace {

std::string kiln_path(const std::string& name) { return models_dir() + "/" + name + ".kiln"; }

// What the C API does: map the file, run its graph as stored (no canonicalisation).
std::shared_ptr<const Model> load_kiln_model(const std::string& name) {
  KilnFile file;
  std::string err;
  EXPECT_TRUE(load_kiln(kiln_path(name), &file, &err)) << err;
  ModelOptions options;
  options.canonicalize = false;
  auto m = Model::create(std::move(file.graph), &err, options);
  EXPECT_NE(m, nullptr) << err;
  return m;
}

class KilnFileModel : public ::testing::TestWithParam<const char*> {};

TEST_P(KilnFileModel, MatchesPyTorch) {
  auto m = load_kiln_model(GetParam());
  ASSERT_NE(m, nullptr);
  const float err = run_against_reference(m, GetParam());
  std::printf("  %-20s max |kiln - torch| = %.3g\n", GetParam(), err);
  EXPECT_LE(err, 1e-4f);
}

INSTANTIATE_TEST_SUITE_P(Models, KilnFileModel, ::testing::ValuesIn(kTestModels));

std::vector<float> run_once(Session& s, const Tensor& x) {
  EXPECT_EQ(s.set_input(s.model().input_names()[0], x), "");
  EXPECT_EQ(s.run(), "");
  const Tensor* y = s.output(s.model().output_names()[0]);
  if (!y) return {};
  return std::vector<float>(y->data<float>(), y->data<float>() + y->elements());
}

TEST(Sessions, TwoThreadsOnOneModelMatchOneSession) {
  auto m = load_kiln_model("mobilenetv3_small");
  ASSERT_NE(m, nullptr);
  NpyF32 in;
  std::string err;
  ASSERT_TRUE(read_npy_f32(models_dir() + "/mobilenetv3_small.input.npy", &in, &err)) << err;
  Tensor x(DType::f32, in.shape);
  std::copy(in.data.begin(), in.data.end(), x.mutable_data<float>());
  Session single(m);
  const std::vector<float> want = run_once(single, x);
  ASSERT_FALSE(want.empty());
  std::vector<float> got[2];
  std::thread t[2];
  for (int i = 0; i < 2; ++i) {
    t[i] = std::thread([&, i] {
      Session s(m, 1);
      for (int rep = 0; rep < 3; ++rep) got[i] = run_once(s, x);
    });
  }
  for (auto& th : t) th.join();
  EXPECT_EQ(got[0], want);
  EXPECT_EQ(got[1], want);
}

TEST(Sessions, DynamicBatchReplansAndMatchesPerSampleRuns) {
  auto m = load_kiln_model("shufflenetv2");  // dynamic batch, Shape/Gather/Reshape chains
  ASSERT_NE(m, nullptr);
  NpyF32 in;
  std::string err;
  ASSERT_TRUE(read_npy_f32(models_dir() + "/shufflenetv2.input.npy", &in, &err)) << err;
  Tensor one(DType::f32, in.shape);
  std::copy(in.data.begin(), in.data.end(), one.mutable_data<float>());
  Shape two_shape = in.shape;
  two_shape[0] = 2;
  Tensor two(DType::f32, two_shape);
  for (size_t i = 0; i < in.data.size(); ++i) {
    two.mutable_data<float>()[i] = in.data[i];
    two.mutable_data<float>()[i + in.data.size()] = -in.data[i];
  }
  Tensor neg(DType::f32, in.shape);
  for (size_t i = 0; i < in.data.size(); ++i) neg.mutable_data<float>()[i] = -in.data[i];
  Session s(m);
  const std::vector<float> a = run_once(s, one);
  const std::vector<float> b = run_once(s, neg);
  const std::vector<float> both = run_once(s, two);
  ASSERT_EQ(both.size(), a.size() + b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(both[i], a[i], 1e-5f);
    EXPECT_NEAR(both[i + a.size()], b[i], 1e-5f);
  }
  EXPECT_GT(s.arena_bytes(), 0u);
}

}  // namespace
}  // namespace kiln::test
