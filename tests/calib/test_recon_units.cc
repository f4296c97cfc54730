// Reconstruction units of the demo models at every granularity, and the float blocks built from
// them: run unit by unit they reproduce the runtime's logits.
#include <gtest/gtest.h>

#include "kiln/runtime/model.h"
#include "test_recon_fmnist.h"

namespace kiln::calib::recon {
namespace {

struct Counts {
  size_t layer, block, stage, net;
};

void expect_counts(const std::string& model, Counts want) {
  Graph g;
  std::string e;
  ASSERT_TRUE(testing::load_demo(model, &g, &e)) << e;
  const std::pair<Granularity, size_t> cases[] = {{Granularity::layer, want.layer},
                                                  {Granularity::block, want.block},
                                                  {Granularity::stage, want.stage},
                                                  {Granularity::net, want.net}};
  for (auto [gran, count] : cases) {
    std::vector<ReconUnit> units;
    ASSERT_TRUE(list_units(g, gran, &units, &e)) << e;
    EXPECT_EQ(units.size(), count) << model << " " << granularity_name(gran) << "\n" << describe_units(g, units);
    // Units cover every weighted node exactly once, in order, each with inputs and an output.
    size_t weighted = 0;
    int last = -1;
    for (const ReconUnit& u : units) {
      weighted += u.weighted;
      EXPECT_FALSE(u.inputs.empty());
      EXPECT_GE(u.output, 0);
      for (int n : u.nodes) {
        EXPECT_GT(n, last) << "units overlap or are out of order";
        last = n;
      }
    }
    EXPECT_EQ(weighted, want.layer);
  }
}

TEST(ReconUnits, ResNetDemo) {
  // stem | 5 basic blocks (2 x 16, 2 x 32, 1 x 64) | GAP + FC; stages at 28, 14, 7 and 1 pixels.
  expect_counts("resnet_fmnist", {14, 7, 4, 1});
}

TEST(ReconUnits, MobileNetV2Demo) {
  // 19 convs + FC; [stem, dw, project] [24a] [24b residual] [32a] [32b residual] [64a] [head + FC].
  expect_counts("mbv2_fmnist", {20, 7, 3, 1});
}

TEST(ReconUnits, ResidualBlocksAreMarked) {
  Graph g;
  std::string e;
  ASSERT_TRUE(testing::load_demo("resnet_fmnist", &g, &e)) << e;
  std::vector<ReconUnit> units;
  ASSERT_TRUE(list_units(g, Granularity::block, &units, &e)) << e;
  size_t residual = 0;
  for (const ReconUnit& u : units) {
    residual += u.residual;
    if (u.residual) {
      EXPECT_EQ(u.inputs.size(), 1u) << u.name;  // a residual unit starts at its fork
    }
  }
  EXPECT_EQ(residual, 5u);
  Granularity gr;
  EXPECT_FALSE(parse_granularity("blocks", &gr, &e));
  EXPECT_TRUE(parse_granularity("stage", &gr, &e));
  EXPECT_EQ(gr, Granularity::stage);
}

void expect_logits_match(const std::string& model) {
  Graph g;
  std::string e;
  ASSERT_TRUE(testing::load_demo(model, &g, &e)) << e;
  const size_t n = 4;
  const std::vector<float> images = testing::fmnist_images(n);
  std::map<int, std::vector<float>> values;
  ASSERT_TRUE(testing::float_activations(g, images, n, &values, &e)) << e;
  auto m = Model::create(g, &e);
  ASSERT_TRUE(m) << e;
  Session s(m);
  Tensor in(kiln::DType::f32, {static_cast<int64_t>(n), 1, 28, 28});
  std::copy(images.begin(), images.end(), in.mutable_data<float>());
  ASSERT_EQ(s.set_input(g.values[g.inputs[0]].name, in), "");
  ASSERT_EQ(s.run(), "");
  const Tensor* out = s.output(g.values[g.outputs[0]].name);
  ASSERT_TRUE(out);
  const std::vector<float>& mine = values[g.outputs[0]];
  ASSERT_EQ(mine.size(), out->elements());
  for (size_t i = 0; i < mine.size(); ++i) EXPECT_NEAR(mine[i], out->data<float>()[i], 2e-3f) << i;
}

TEST(ReconUnits, FloatBlocksReproduceTheRuntimeResNet) { expect_logits_match("resnet_fmnist"); }
TEST(ReconUnits, FloatBlocksReproduceTheRuntimeMobileNetV2) { expect_logits_match("mbv2_fmnist"); }

}  // namespace
}  // namespace kiln::calib::recon
