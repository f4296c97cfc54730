// Whole-graph reconstruction of the ResNet demo model: every weighted layer gets codes in range and
// every quantized value its parameters, and block reconstruction (BRECQ) brings the quantized
// network's output closer to the float one than nearest rounding with the same ranges.
#include <gtest/gtest.h>

#include <cstdio>

#include "kiln/calib/recon/recon_graph.h"
#include "test_recon_fmnist.h"

namespace kiln::calib::recon {
namespace {

// W2A8 on 64 images in small batches: quick enough for a unit test, wide enough a gap to nearest.
GraphReconOptions small_w2a8_options() {
  GraphReconOptions o;
  o.wbits = 2;
  o.abits = 8;
  o.recon.batch = 16;
  o.recon.lr_adaround = 5e-3f;
  o.recon.seed = 3;
  o.eval_batch = 32;
  return o;
}

// The ResNet demo graph, loaded for each test.
class ReconGraph : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(testing::load_demo("resnet_fmnist", &g, &e)) << e; }
  Graph g;
  std::string e;
};

TEST_F(ReconGraph, BrecqW2BeatsNearestOnTheResNetDemo) {
  const size_t n = 64;
  const std::vector<float> images = testing::fmnist_images(n);
  GraphReconOptions o = small_w2a8_options();
  GraphReconResult nearest, brecq;
  o.recon.iters = 0;  // hard rounding right away: nearest rounding with the observed ranges
  ASSERT_TRUE(reconstruct_graph(g, images, n, o, &nearest, &e)) << e;
  o.recon.iters = 60;
  size_t progress_calls = 0;
  o.progress = [&](size_t, size_t units, const std::string&, int, double) {
    EXPECT_EQ(units, 7u);
    ++progress_calls;
  };
  ASSERT_TRUE(reconstruct_graph(g, images, n, o, &brecq, &e)) << e;
  EXPECT_GT(progress_calls, 0u);
  ASSERT_EQ(brecq.units.size(), 7u);
  std::printf("W2A8 network output MSE per sample: nearest %.4g, BRECQ (60 iters/unit) %.4g\n", nearest.output_mse,
              brecq.output_mse);
  EXPECT_LT(brecq.output_mse, 0.9 * nearest.output_mse);
  // Every Conv / Gemm has codes of its weight's size, inside the 2-bit range [-2, 1].
  size_t weighted = 0;
  for (const Node& node : g.nodes) {
    if (node.op != "Conv" && node.op != "Gemm") continue;
    ++weighted;
    auto it = brecq.weight_codes.find(node.name);
    ASSERT_TRUE(it != brecq.weight_codes.end()) << node.name;
    EXPECT_EQ(it->second.size(), g.constant_of(node.inputs[1])->elements()) << node.name;
    for (int8_t c : it->second) {
      ASSERT_GE(c, -2);
      ASSERT_LE(c, 1);
    }
    EXPECT_EQ(brecq.weight_params[node.name].size(), static_cast<size_t>(g.constant_of(node.inputs[1])->shape()[0]));
    EXPECT_TRUE(brecq.activation_params.count(g.values[node.outputs[0]].name)) << node.name;
  }
  EXPECT_EQ(weighted, 14u);
}

// BRECQ's Fisher-diagonal loss: every unit gets weights (|g| + 1)^2 >= 1 from the KL gradient that
// reaches it from the logits, and the weighted reconstruction still beats nearest rounding.
TEST_F(ReconGraph, FisherLossWeightsEveryUnitAndReconstructs) {
  const size_t n = 64;
  const std::vector<float> images = testing::fmnist_images(n);
  GraphReconOptions o = small_w2a8_options();
  o.recon.iters = 0;
  GraphReconResult nearest, fisher;
  ASSERT_TRUE(reconstruct_graph(g, images, n, o, &nearest, &e)) << e;
  for (const UnitReport& u : nearest.units) EXPECT_EQ(u.fisher_mean, 0.0) << u.name;
  o.fisher = true;
  o.fisher_batch = 1;  // large gradients, so that the weights are visibly above 1
  o.recon.iters = 60;
  ASSERT_TRUE(reconstruct_graph(g, images, n, o, &fisher, &e)) << e;
  ASSERT_EQ(fisher.units.size(), 7u);
  for (const UnitReport& u : fisher.units) {
    EXPECT_GT(u.fisher_mean, 1.0) << u.name;
    EXPECT_LT(u.fisher_mean, 100.0) << u.name;
  }
  std::printf("W2A8 output MSE per sample: nearest %.4g, BRECQ Fisher (60 iters/unit) %.4g\n", nearest.output_mse,
              fisher.output_mse);
  EXPECT_LT(fisher.output_mse, 0.9 * nearest.output_mse);
  o.fisher_batch = 0;
  EXPECT_FALSE(reconstruct_graph(g, images, n, o, &fisher, &e));
}

// The Fisher setup's probes must not change what the units learn from: with no iterations the
// Fisher run is nearest rounding with the same ranges, so every code, every parameter and the error
// against the float network equal the plain run's. (The probes once ran their float pass after
// switching quantization on, so the "float" targets, ranges and logits were quantized ones.)
TEST_F(ReconGraph, FisherSetupKeepsTheFloatNetworkAndTheRanges) {
  const size_t n = 32;
  const std::vector<float> images = testing::fmnist_images(n);
  GraphReconOptions o = small_w2a8_options();
  o.abits = 4;
  o.recon.iters = 0;
  GraphReconResult plain, fisher;
  ASSERT_TRUE(reconstruct_graph(g, images, n, o, &plain, &e)) << e;
  o.fisher = true;
  ASSERT_TRUE(reconstruct_graph(g, images, n, o, &fisher, &e)) << e;
  EXPECT_EQ(fisher.output_mse, plain.output_mse);
  EXPECT_GT(plain.output_mse, 0.0);
  EXPECT_EQ(fisher.weight_codes, plain.weight_codes);
  ASSERT_EQ(fisher.activation_params.size(), plain.activation_params.size());
  for (const auto& [name, p] : plain.activation_params) {
    const QuantParams& f = fisher.activation_params.at(name);
    EXPECT_EQ(f.scale, p.scale) << name;
    EXPECT_EQ(f.zero_point, p.zero_point) << name;
  }
}

}  // namespace
}  // namespace kiln::calib::recon
