// Runs a test model (tests/models/<name>) through a kiln Model and compares with PyTorch's output.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include "kiln/runtime/model.h"
#include "npy_util.h"

namespace kiln::test {

// The test models: name and the max abs error allowed against PyTorch (acceptance: 1e-4).
// unet_dynamic_hw: the UNet exported with open batch, height and width (ONNX files from the wild often
// are); two_heads: a detector's shape, two outputs (the first is compared).
inline const char* const kTestModels[] = {"resnet18",          "mobilenetv2", "mobilenetv3_small", "shufflenetv2",
                                          "efficientnet_like", "unet_like",   "unet_dynamic_hw",   "two_heads",
                                          "transformer",       "transformer_op13"};

inline std::string models_dir() { return KILN_TEST_MODELS_DIR; }

// Max abs difference between the model's output and the stored PyTorch output.
inline float run_against_reference(const std::shared_ptr<const Model>& model, const std::string& name, int threads = 1) {
  NpyF32 in, want;
  std::string err;
  EXPECT_TRUE(read_npy_f32(models_dir() + "/" + name + ".input.npy", &in, &err)) << err;
  EXPECT_TRUE(read_npy_f32(models_dir() + "/" + name + ".output.npy", &want, &err)) << err;
  Session s(model, threads);
  Tensor x(DType::f32, in.shape);
  std::copy(in.data.begin(), in.data.end(), x.mutable_data<float>());
  const std::string input = model->input_names().at(0);
  EXPECT_EQ(s.set_input(input, x), "");
  const std::string e = s.run();
  EXPECT_EQ(e, "");
  if (!e.empty()) return INFINITY;
  const Tensor* y = s.output(model->output_names().at(0));
  EXPECT_NE(y, nullptr);
  if (!y) return INFINITY;
  EXPECT_EQ(y->shape(), Shape(want.shape.begin(), want.shape.end()));
  if (y->elements() != want.data.size()) return INFINITY;
  float worst = 0.0f;
  for (size_t i = 0; i < want.data.size(); ++i) {
    const float d = std::fabs(y->data<float>()[i] - want.data[i]);
    worst = std::isnan(d) ? INFINITY : std::max(worst, d);
  }
  return worst;
}

}  // namespace kiln::test
