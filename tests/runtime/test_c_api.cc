// The C API: version and ISA queries, and .kiln models loaded from memory and from a mapped file,
// run end to end (the test models; this suite runs in the aarch64 lane too), with its errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>

#include "kiln/format/kiln_file.h"
#include "kiln/kiln.h"
#include "kiln/runtime/op_registry.h"
#include "npy_util.h"

namespace kiln::test {
namespace {

std::string models_dir() { return KILN_TEST_MODELS_DIR; }
std::string kiln_path(const std::string& name) { return models_dir() + "/" + name + ".kiln"; }

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

TEST(CApi, VersionIsSemver) {
  const std::string v = kiln_version();
  EXPECT_EQ(std::count(v.begin(), v.end(), '.'), 2) << v;
}

TEST(CApi, IsaHonoursOverride) {
  const char* saved = std::getenv("KILN_ISA");
  const std::string keep = saved ? saved : "";
  setenv("KILN_ISA", "ref", 1);
  ASSERT_NE(kiln_isa(), nullptr);
  EXPECT_STREQ(kiln_isa(), "ref");
  setenv("KILN_ISA", "no-such-isa", 1);
  EXPECT_EQ(kiln_isa(), nullptr);
  EXPECT_NE(std::string(kiln_last_error()).find("no-such-isa"), std::string::npos);
  if (saved) setenv("KILN_ISA", keep.c_str(), 1); else unsetenv("KILN_ISA");
  EXPECT_NE(kiln_isa(), nullptr);
}

// Runs resnet18 through a loaded C model and compares with PyTorch's output.
void expect_resnet18_matches(kiln_model* model) {
  kiln_session* s = nullptr;
  ASSERT_EQ(kiln_session_create(model, 1, &s), KILN_OK) << kiln_last_error();
  NpyF32 in, want;
  std::string err;
  ASSERT_TRUE(read_npy_f32(models_dir() + "/resnet18.input.npy", &in, &err)) << err;
  ASSERT_TRUE(read_npy_f32(models_dir() + "/resnet18.output.npy", &want, &err)) << err;
  ASSERT_EQ(kiln_session_set_input(s, "input", KILN_F32, in.data.data(), in.shape.data(), in.shape.size()), KILN_OK);
  ASSERT_EQ(kiln_session_run(s), KILN_OK) << kiln_last_error();
  kiln_tensor_view y;
  ASSERT_EQ(kiln_session_get_output(s, "output", &y), KILN_OK);
  ASSERT_EQ(y.rank, 2u);
  ASSERT_EQ(y.shape[1], static_cast<int64_t>(want.data.size()));
  for (size_t i = 0; i < want.data.size(); ++i) EXPECT_NEAR(static_cast<const float*>(y.data)[i], want.data[i], 1e-4f);
  EXPECT_GT(kiln_session_peak_memory(s), 0u);
  kiln_session_free(s);
}

TEST(CApi, LoadsKilnFromMemoryRunsAndReportsErrors) {
  std::string bytes = read_file(kiln_path("resnet18"));
  kiln_model* model = nullptr;
  ASSERT_EQ(kiln_model_load_memory(bytes.data(), bytes.size(), &model), KILN_OK) << kiln_last_error();
  bytes.assign(bytes.size(), '\0');  // the model holds its own copy
  ASSERT_EQ(kiln_model_input_count(model), 1u);
  EXPECT_STREQ(kiln_model_input_name(model, 0), "input");
  EXPECT_EQ(kiln_model_input_name(model, 1), nullptr);
  kiln_session* s = nullptr;
  ASSERT_EQ(kiln_session_create(model, 1, &s), KILN_OK);
  NpyF32 in;
  std::string err;
  ASSERT_TRUE(read_npy_f32(models_dir() + "/resnet18.input.npy", &in, &err)) << err;
  const int64_t bad_shape[4] = {1, 4, 64, 64};
  EXPECT_EQ(kiln_session_set_input(s, "input", KILN_F32, in.data.data(), bad_shape, 4), KILN_ERROR);
  EXPECT_NE(std::string(kiln_last_error()).find("expects"), std::string::npos) << kiln_last_error();
  EXPECT_EQ(kiln_session_set_input(s, "nope", KILN_F32, in.data.data(), in.shape.data(), 4), KILN_ERROR);
  kiln_session_free(s);
  expect_resnet18_matches(model);
  kiln_model_free(model);
  model = nullptr;
  EXPECT_EQ(kiln_model_load_memory("garbage!", 8, &model), KILN_ERROR);
  EXPECT_EQ(model, nullptr);
  EXPECT_EQ(kiln_model_load_file("/no/such/file.kiln", &model), KILN_ERROR);
  EXPECT_NE(std::string(kiln_last_error()).find("/no/such/file.kiln"), std::string::npos);
}

TEST(CApi, LoadsKilnFileMappedAndSessionsOutliveTheModelHandle) {
  kiln_model* model = nullptr;
  ASSERT_EQ(kiln_model_load_file(kiln_path("resnet18").c_str(), &model), KILN_OK) << kiln_last_error();
  kiln_session* s = nullptr;
  ASSERT_EQ(kiln_session_create(model, 2, &s), KILN_OK);
  kiln_model_free(model);  // the session keeps the model (and its mapping) alive
  NpyF32 in, want;
  std::string err;
  ASSERT_TRUE(read_npy_f32(models_dir() + "/resnet18.input.npy", &in, &err)) << err;
  ASSERT_TRUE(read_npy_f32(models_dir() + "/resnet18.output.npy", &want, &err)) << err;
  ASSERT_EQ(kiln_session_set_input(s, "input", KILN_F32, in.data.data(), in.shape.data(), in.shape.size()), KILN_OK);
  ASSERT_EQ(kiln_session_run(s), KILN_OK) << kiln_last_error();
  kiln_tensor_view y;
  ASSERT_EQ(kiln_session_get_output(s, "output", &y), KILN_OK);
  for (size_t i = 0; i < want.data.size(); ++i) EXPECT_NEAR(static_cast<const float*>(y.data)[i], want.data[i], 1e-4f);
  kiln_session_free(s);
}

// The stopgap .kgraph files are refused with a message that says what they are.
TEST(CApi, RetiredGraphFilesAreNamedInTheError) {
  const std::string bytes = std::string("KILNGRF1") + std::string(64, '\0');
  kiln_model* model = nullptr;
  EXPECT_EQ(kiln_model_load_memory(bytes.data(), bytes.size(), &model), KILN_ERROR);
  EXPECT_NE(std::string(kiln_last_error()).find(".kgraph"), std::string::npos) << kiln_last_error();
  const std::string path = ::testing::TempDir() + "kiln_retired_" + std::to_string(getpid()) + ".bin";
  {
    std::ofstream f(path, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  EXPECT_EQ(kiln_model_load_file(path.c_str(), &model), KILN_ERROR);
  EXPECT_NE(std::string(kiln_last_error()).find(".kgraph"), std::string::npos) << kiln_last_error();
  EXPECT_NE(std::string(kiln_last_error()).find(path), std::string::npos) << kiln_last_error();
  EXPECT_EQ(model, nullptr);
  std::remove(path.c_str());
}

TEST(CApi, EveryTruncationAndAFlippedWeightByteAreRejected) {
  std::string bytes = read_file(kiln_path("transformer_op13"));
  ASSERT_GT(bytes.size(), 1000u);
  kiln_model* model = nullptr;
  ASSERT_EQ(kiln_model_load_memory(bytes.data(), bytes.size(), &model), KILN_OK) << kiln_last_error();
  kiln_model_free(model);
  model = nullptr;
  for (size_t cut = 0; cut < bytes.size(); cut += 1 + cut / 8) {
    EXPECT_EQ(kiln_model_load_memory(bytes.data(), cut, &model), KILN_ERROR) << cut;
    EXPECT_EQ(model, nullptr);
  }
  bytes[bytes.size() / 2] ^= 0x10;  // inside the data region: only the checksum can see it
  EXPECT_EQ(kiln_model_load_memory(bytes.data(), bytes.size(), &model), KILN_ERROR);
  EXPECT_EQ(model, nullptr);
}

// A quantized graph (kiln.Quantize -> kiln.Dequantize) saved as .kiln loads through the C API and
// runs as stored. Skipped until the runtime registers the Q ops (docs/quantized-graph.md).
TEST(CApi, LoadsAQuantizedKilnFile) {
  if (!find_op("kiln.Quantize") || !find_op("kiln.Dequantize")) GTEST_SKIP() << "kiln.Quantize/Dequantize not registered";
  const float scale = 0.5f;
  const int32_t zero_point = 10;
  Graph g;
  Value x;
  x.name = "x";
  x.shape = {1, 6};
  x.shape_known = true;
  const int xi = g.add_value(x);
  Value q;
  q.name = "x__q";
  q.dtype = DType::u8;
  q.shape = {1, 6};
  q.shape_known = true;
  q.quant.scales = {scale};
  q.quant.zero_points = {zero_point};
  const int qi = g.add_value(q);
  Value y;
  y.name = "y";
  y.shape = {1, 6};
  y.shape_known = true;
  const int yi = g.add_value(y);
  Node quantize;
  quantize.name = "quantize";
  quantize.op = "kiln.Quantize";
  quantize.inputs = {xi};
  quantize.outputs = {qi};
  quantize.attrs["qmin"] = Attr::of_int(0);
  quantize.attrs["qmax"] = Attr::of_int(255);
  Node dequantize;
  dequantize.name = "dequantize";
  dequantize.op = "kiln.Dequantize";
  dequantize.inputs = {qi};
  dequantize.outputs = {yi};
  g.nodes = {quantize, dequantize};
  g.inputs = {xi};
  g.outputs = {yi};
  KilnMetadata meta;
  meta.weight_bits = 8;
  meta.activation_bits = 8;
  meta.calibration_method = "minmax";
  std::string bytes, err;
  ASSERT_TRUE(serialize_kiln(g, meta, &bytes, &err)) << err;
  kiln_model* model = nullptr;
  ASSERT_EQ(kiln_model_load_memory(bytes.data(), bytes.size(), &model), KILN_OK) << kiln_last_error();
  kiln_session* s = nullptr;
  ASSERT_EQ(kiln_session_create(model, 1, &s), KILN_OK);
  const float in[6] = {-10.0f, -4.9f, 0.26f, 1.0f, 60.0f, 200.0f};
  const int64_t shape[2] = {1, 6};
  ASSERT_EQ(kiln_session_set_input(s, "x", KILN_F32, in, shape, 2), KILN_OK) << kiln_last_error();
  ASSERT_EQ(kiln_session_run(s), KILN_OK) << kiln_last_error();
  kiln_tensor_view out;
  ASSERT_EQ(kiln_session_get_output(s, "y", &out), KILN_OK);
  for (int i = 0; i < 6; ++i) {
    // q = clamp(round_half_even(x / s) + zp, 0, 255); y = (q - zp) * s
    const float code = std::min(255.0f, std::max(0.0f, std::nearbyint(in[i] / scale) + zero_point));
    EXPECT_EQ(static_cast<const float*>(out.data)[i], (code - zero_point) * scale) << i;
  }
  kiln_session_free(s);
  kiln_model_free(model);
}

}  // namespace
}  // namespace kiln::test
