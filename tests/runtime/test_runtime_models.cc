// The test models through the deployable runtime alone (kiln graph files; this suite runs in the
// aarch64 lane too), plus sessions shared across threads and the C API end to end.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "kiln/kiln.h"
#include "kiln/runtime/graph_io.h"
#include "model_check.h"

namespace kiln::test {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::shared_ptr<const Model> load_kgraph(const std::string& name) {
  const std::string bytes = read_file(models_dir() + "/" + name + ".kgraph");
  Graph g;
  std::string err;
  EXPECT_TRUE(deserialize_graph(bytes.data(), bytes.size(), &g, &err)) << err;
  auto m = Model::create(std::move(g), &err);
  EXPECT_NE(m, nullptr) << err;
  return m;
}

class GraphFileModel : public ::testing::TestWithParam<const char*> {};

TEST_P(GraphFileModel, MatchesPyTorch) {
  auto m = load_kgraph(GetParam());
  ASSERT_NE(m, nullptr);
  const float err = run_against_reference(m, GetParam());
  std::printf("  %-20s max |kiln - torch| = %.3g\n", GetParam(), err);
  EXPECT_LE(err, 1e-4f);
}

INSTANTIATE_TEST_SUITE_P(Models, GraphFileModel, ::testing::ValuesIn(kTestModels));

std::vector<float> run_once(Session& s, const Tensor& x) {
  EXPECT_EQ(s.set_input(s.model().input_names()[0], x), "");
  EXPECT_EQ(s.run(), "");
  const Tensor* y = s.output(s.model().output_names()[0]);
  if (!y) return {};
  return std::vector<float>(y->data<float>(), y->data<float>() + y->elements());
}

TEST(Sessions, TwoThreadsOnOneModelMatchOneSession) {
  auto m = load_kgraph("mobilenetv3_small");
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
  auto m = load_kgraph("shufflenetv2");  // dynamic batch, Shape/Gather/Reshape chains
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

TEST(CApi, LoadsRunsAndReportsErrors) {
  const std::string bytes = read_file(models_dir() + "/resnet18.kgraph");
  kiln_model* model = nullptr;
  ASSERT_EQ(kiln_model_load_memory(bytes.data(), bytes.size(), &model), KILN_OK) << kiln_last_error();
  ASSERT_EQ(kiln_model_input_count(model), 1u);
  EXPECT_STREQ(kiln_model_input_name(model, 0), "input");
  EXPECT_EQ(kiln_model_input_name(model, 1), nullptr);
  kiln_session* s = nullptr;
  ASSERT_EQ(kiln_session_create(model, 1, &s), KILN_OK);
  kiln_model_free(model);  // the session keeps it alive
  NpyF32 in, want;
  std::string err;
  ASSERT_TRUE(read_npy_f32(models_dir() + "/resnet18.input.npy", &in, &err)) << err;
  ASSERT_TRUE(read_npy_f32(models_dir() + "/resnet18.output.npy", &want, &err)) << err;
  const int64_t bad_shape[4] = {1, 4, 64, 64};
  EXPECT_EQ(kiln_session_set_input(s, "input", KILN_F32, in.data.data(), bad_shape, 4), KILN_ERROR);
  EXPECT_NE(std::string(kiln_last_error()).find("expects"), std::string::npos) << kiln_last_error();
  EXPECT_EQ(kiln_session_set_input(s, "nope", KILN_F32, in.data.data(), in.shape.data(), 4), KILN_ERROR);
  ASSERT_EQ(kiln_session_set_input(s, "input", KILN_F32, in.data.data(), in.shape.data(), in.shape.size()), KILN_OK);
  ASSERT_EQ(kiln_session_run(s), KILN_OK) << kiln_last_error();
  kiln_tensor_view y;
  ASSERT_EQ(kiln_session_get_output(s, "output", &y), KILN_OK);
  ASSERT_EQ(y.rank, 2u);
  EXPECT_EQ(y.shape[1], 10);
  for (size_t i = 0; i < want.data.size(); ++i) EXPECT_NEAR(static_cast<const float*>(y.data)[i], want.data[i], 1e-4f);
  EXPECT_GT(kiln_session_peak_memory(s), 0u);
  kiln_session_free(s);
  EXPECT_EQ(kiln_model_load_memory("garbage!", 8, &model), KILN_ERROR);
  EXPECT_EQ(model, nullptr);
  EXPECT_EQ(kiln_model_load_file("/no/such/file.kgraph", &model), KILN_ERROR);
  EXPECT_NE(std::string(kiln_last_error()).find("/no/such/file.kgraph"), std::string::npos);
}

TEST(GraphFile, EveryTruncationIsRejectedWithoutCrashing) {
  const std::string bytes = read_file(models_dir() + "/transformer_op13.kgraph");
  ASSERT_GT(bytes.size(), 100u);
  for (size_t cut = 0; cut < bytes.size(); cut += 1 + cut / 8) {
    Graph g;
    std::string err;
    EXPECT_FALSE(deserialize_graph(bytes.data(), cut, &g, &err)) << cut;
  }
  Graph g;
  std::string err;
  EXPECT_TRUE(deserialize_graph(bytes.data(), bytes.size(), &g, &err)) << err;
  EXPECT_EQ(serialize_graph(g), bytes);  // round trip is exact
}

}  // namespace
}  // namespace kiln::test
