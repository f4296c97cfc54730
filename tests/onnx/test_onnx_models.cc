// Every test model imported from ONNX matches PyTorch's output within 1e-4; the committed float .kiln
// files (the copies the aarch64 lane and the C API load) are exactly what the importer produces today.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "kiln/onnx/importer.h"
#include "kiln/format/kiln_file.h"
#include "runtime/model_check.h"

namespace kiln::test {
namespace {

std::shared_ptr<const Model> load_onnx(const std::string& name, Graph* logical = nullptr) {
  Graph g;
  std::string err;
  EXPECT_TRUE(onnx::import_model_file(models_dir() + "/" + name + ".onnx", &g, &err)) << err;
  auto m = Model::create(std::move(g), &err);
  EXPECT_NE(m, nullptr) << err;
  if (m && logical) *logical = m->logical_graph();
  return m;
}

class OnnxModel : public ::testing::TestWithParam<const char*> {};

TEST_P(OnnxModel, MatchesPyTorch) {
  auto m = load_onnx(GetParam());
  ASSERT_NE(m, nullptr);
  const float err = run_against_reference(m, GetParam());
  RecordProperty("max_abs_error", std::to_string(err));
  std::printf("  %-20s max |kiln - torch| = %.3g\n", GetParam(), err);
  EXPECT_LE(err, 1e-4f);
}

TEST_P(OnnxModel, CommittedKilnFileIsCurrent) {
  Graph logical;
  auto m = load_onnx(GetParam(), &logical);
  ASSERT_NE(m, nullptr);
  const std::string path = models_dir() + "/" + GetParam() + ".kiln";
  std::ifstream f(path, std::ios::binary);
  ASSERT_TRUE(f) << "missing " << path << "; regenerate with kiln_onnx_to_kiln";
  const std::string have((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  KilnFile file;
  std::string err;
  ASSERT_TRUE(load_kiln(path, &file, &err)) << err;
  // Same graph and the metadata it was written with (source hash and name): the same bytes.
  std::string want;
  ASSERT_TRUE(serialize_kiln(logical, file.metadata, &want, &err)) << err;
  EXPECT_TRUE(have == want) << path << " is stale; regenerate with kiln_onnx_to_kiln";
}

INSTANTIATE_TEST_SUITE_P(Models, OnnxModel, ::testing::ValuesIn(kTestModels));

// A model with open height and width runs at any size: the committed 32x32 input's output matches
// PyTorch's (above), and a 48x40 input gives a 48x40 output (its pools and upsamplings follow).
TEST(OnnxModelOpenSizes, RunsAtAnotherSize) {
  auto m = load_onnx("unet_dynamic_hw");
  ASSERT_NE(m, nullptr);
  Session s(m);
  Tensor x(DType::f32, {2, 3, 48, 40});
  for (size_t i = 0; i < x.elements(); ++i) x.mutable_data<float>()[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  ASSERT_EQ(s.set_input(m->input_names()[0], x), "");
  ASSERT_EQ(s.run(), "");
  const Tensor* y = s.output(m->output_names()[0]);
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(y->shape(), (Shape{2, 3, 48, 40}));
  for (size_t i = 0; i < y->elements(); ++i) ASSERT_TRUE(std::isfinite(y->data<float>()[i]));
}

}  // namespace
}  // namespace kiln::test
