// Reconstruction units of the demo models at every granularity, and the float blocks built from
// them: run unit by unit they reproduce the runtime's logits.
#include <gtest/gtest.h>

#include <algorithm>

#include "kiln/runtime/model.h"
#include "test_recon_fmnist.h"

namespace kiln::calib::recon {
namespace {

struct Counts {
  size_t layer, block, stage, net;
};

// want.layer units at layer granularity; `weighted` layers in all (want.layer when 0: one unit per layer).
void expect_counts(const std::string& model, Counts want, size_t weighted_layers = 0) {
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
    EXPECT_EQ(weighted, weighted_layers != 0 ? weighted_layers : want.layer);
  }
}

// A demo model's graph and its block-granularity units.
void block_units_of(const std::string& model, Graph* g, std::vector<ReconUnit>* units) {
  std::string e;
  ASSERT_TRUE(testing::load_demo(model, g, &e)) << e;
  ASSERT_TRUE(list_units(*g, Granularity::block, units, &e)) << e;
}

TEST(ReconUnits, ResNetDemo) {
  // stem | 5 basic blocks (2 x 16, 2 x 32, 1 x 64) | GAP + FC; stages at 28, 14, 7 and 1 pixels.
  expect_counts("resnet_fmnist", {14, 7, 4, 1});
}

TEST(ReconUnits, MobileNetV2Demo) {
  // 19 convs + FC; [stem, dw, project] [24a] [24b residual] [32a] [32b residual] [64a] [head + FC].
  expect_counts("mbv2_fmnist", {20, 7, 3, 1});
}

TEST(ReconUnits, MobileNetV3Demo) {
  // 27 convs + FC (layer granularity: 28 layers and the 4 squeeze-excitation pools kept between
  // them); blocks are whole MBConv blocks: a squeeze-excitation branch (pool, two 1x1 convs, gate)
  // stays in the unit of the depthwise output it gates and its convs do not count toward the three
  // weighted layers: [stem, block 0] [1] [2 residual] [3] [4 residual] [5] [head + FC].
  expect_counts("mbv3_fmnist", {32, 7, 3, 1}, 28);
  Graph g;
  std::vector<ReconUnit> units;
  ASSERT_NO_FATAL_FAILURE(block_units_of("mbv3_fmnist", &g, &units));
  size_t gates = 0;
  for (const ReconUnit& u : units) {
    for (int i : u.nodes) {
      if (g.nodes[i].op != "Mul") continue;
      ++gates;  // both of the gate's inputs come from inside the unit
      for (int v : g.nodes[i].inputs) {
        EXPECT_TRUE(std::find(u.nodes.begin(), u.nodes.end(), g.values[v].producer) != u.nodes.end())
            << g.nodes[i].label() << "\n" << describe_units(g, units);
      }
    }
  }
  EXPECT_EQ(gates, 4u);
}

TEST(ReconUnits, ResidualBlocksAreMarked) {
  Graph g;
  std::vector<ReconUnit> units;
  ASSERT_NO_FATAL_FAILURE(block_units_of("resnet_fmnist", &g, &units));
  std::string e;
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

// Models beyond ResNet / MobileNetV2 (gates, SiLU, products, channel shuffles, pads, attention): at
// every granularity the units cover every node once, in an order where each unit
// reads only earlier units' values; trained units hold only trainable nodes and hand on one value;
// the rest are kept units that say why.
class ReconUnitsKept : public ::testing::TestWithParam<const char*> {};

TEST_P(ReconUnitsKept, UntrainableOpsBecomeKeptUnits) {
  Graph raw, g;
  std::string e;
  ASSERT_TRUE(kiln::onnx::import_model_file(std::string(KILN_TEST_MODELS_DIR) + "/" + GetParam() + ".onnx", &raw, &e))
      << e;
  auto m = Model::create(raw, &e);
  ASSERT_TRUE(m) << e;
  g = m->logical_graph();
  for (Granularity gran : {Granularity::layer, Granularity::block, Granularity::stage, Granularity::net}) {
    UnitContext ctx;
    std::vector<ReconUnit> units;
    ASSERT_TRUE(list_units(g, gran, &units, &e, &ctx)) << e;
    const std::string where = std::string(GetParam()) + " " + granularity_name(gran) + "\n" + describe_units(g, units);
    std::vector<int> unit_of(g.nodes.size(), -1);
    size_t kept = 0, trained = 0;
    for (size_t k = 0; k < units.size(); ++k) {
      const ReconUnit& u = units[k];
      for (int i : u.nodes) {
        EXPECT_EQ(unit_of[i], -1) << "node in two units: " << g.nodes[i].name << "\n" << where;
        unit_of[i] = static_cast<int>(k);
      }
      if (!u.trained) {
        ++kept;
        EXPECT_FALSE(u.reason.empty()) << where;
        continue;
      }
      ++trained;
      std::string why;
      for (int i : u.nodes) EXPECT_TRUE(node_trainable(g, i, ctx, &why)) << g.nodes[i].label() << ": " << why;
      ASSERT_EQ(u.outputs.size(), 1u) << u.name << "\n" << where;
      EXPECT_EQ(u.outputs[0], u.output);
      EXPECT_EQ(u.output, g.nodes[u.nodes.back()].outputs[0]);
      EXPECT_GT(u.weighted, 0u) << u.name;
    }
    for (size_t i = 0; i < g.nodes.size(); ++i) EXPECT_GE(unit_of[i], 0) << g.nodes[i].label() << " in no unit";
    for (size_t k = 0; k < units.size(); ++k) {
      for (int v : units[k].inputs) {
        const int p = g.values[v].producer;
        if (p >= 0) {
          EXPECT_LT(unit_of[p], static_cast<int>(k)) << "reads a later unit's '" << g.values[v].name << "'";
        }
      }
    }
    // MobileNetV3's HardSigmoid gates and their products are learned inside blocks (a pooling split
    // off between layers may stay kept); the others keep ops (a fused SiLU in the Float' graph,
    // channel shuffles, pads, attention).
    size_t untrainable = 0;
    for (const ReconUnit& u : units) {
      std::string why;
      for (int i : u.nodes) untrainable += !u.trained && !node_trainable(g, i, ctx, &why);
    }
    if (std::string(GetParam()) == "mobilenetv3_small") {
      EXPECT_EQ(untrainable, 0u) << where;
    } else {
      EXPECT_GT(untrainable, 0u) << where;
    }
    EXPECT_GT(trained, 0u) << where;
  }
}

INSTANTIATE_TEST_SUITE_P(TestModels, ReconUnitsKept,
                         ::testing::Values("mobilenetv3_small", "efficientnet_like", "shufflenetv2", "unet_like",
                                           "transformer"),
                         [](const ::testing::TestParamInfo<const char*>& p) { return std::string(p.param); });

TEST(ReconUnits, FloatBlocksReproduceTheRuntimeResNet) { expect_logits_match("resnet_fmnist"); }
TEST(ReconUnits, FloatBlocksReproduceTheRuntimeMobileNetV2) { expect_logits_match("mbv2_fmnist"); }
TEST(ReconUnits, FloatBlocksReproduceTheRuntimeMobileNetV3) { expect_logits_match("mbv3_fmnist"); }

}  // namespace
}  // namespace kiln::calib::recon
