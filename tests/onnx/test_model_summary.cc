#include <gtest/gtest.h>

#include <string>

#include <onnx/onnx_pb.h>

#include "kiln/onnx/model_summary.h"

namespace kiln::onnx {
namespace {

std::string tiny_model_bytes() {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name(std::string("kiln-test"));
  auto* op = m.add_opset_import();
  op->set_domain(std::string(""));
  op->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name(std::string("g"));
  auto* w = g->add_initializer();
  w->set_name(std::string("w"));
  w->set_data_type(::onnx::TensorProto::FLOAT);
  w->add_dims(1);
  w->add_float_data(2.0f);
  g->add_input()->set_name(std::string("x"));
  g->add_input()->set_name(std::string("w"));  // initializer listed as an input, as older exporters do
  g->add_output()->set_name(std::string("y"));
  auto* n = g->add_node();
  n->set_op_type(std::string("Mul"));
  n->add_input(std::string("x"));
  n->add_input(std::string("w"));
  n->add_output(std::string("y"));
  return m.SerializeAsString();
}

TEST(ModelSummary, ReadsTinyModel) {
  const std::string bytes = tiny_model_bytes();
  ModelSummary s;
  std::string error;
  ASSERT_TRUE(summarize_model(bytes.data(), bytes.size(), &s, &error)) << error;
  EXPECT_EQ(s.ir_version, 8);
  EXPECT_EQ(s.opset, 13);
  EXPECT_EQ(s.nodes, 1u);
  EXPECT_EQ(s.initializers, 1u);
  ASSERT_EQ(s.inputs.size(), 1u);
  EXPECT_EQ(s.inputs[0], "x");
  ASSERT_EQ(s.outputs.size(), 1u);
  EXPECT_EQ(s.outputs[0], "y");
}

TEST(ModelSummary, RejectsGarbageAndTruncation) {
  const std::string bytes = tiny_model_bytes();
  ModelSummary s;
  std::string error;
  const std::string garbage = "\xff\xff\xff\xff not a model";
  EXPECT_FALSE(summarize_model(garbage.data(), garbage.size(), &s, &error));
  EXPECT_FALSE(error.empty());
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    // A truncated protobuf may still parse as a shorter message; it must never crash, and if it
    // parses it must say something consistent.
    error.clear();
    if (summarize_model(bytes.data(), cut, &s, &error)) {
      EXPECT_LE(s.nodes, 1u);
    } else {
      EXPECT_FALSE(error.empty());
    }
  }
  EXPECT_FALSE(summarize_model_file("/nonexistent/model.onnx", &s, &error));
  EXPECT_NE(error.find("/nonexistent/model.onnx"), std::string::npos);
}

}  // namespace
}  // namespace kiln::onnx
