// Q == QFloat on the lanes without the calibrator (aarch64 under qemu, and every runtime lane): the
// committed Q graphs tests/models/q/<model>_w<b>a8.kiln (written by kiln_make_q_models) run on the
// integer runtime at every ISA this build and CPU can run, and their output codes (the u8 value
// feeding the first output's kiln.Dequantize) are compared with QFloat's committed codes
// <model>_w<b>a8.codes.npy on <model>.input.npy: >= 99.9% equal, never more than 1 LSB apart.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "kiln/format/kiln_file.h"
#include "kiln/kernels/isa.h"
#include "kiln/runtime/model.h"
#include "npy_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

// KILN_TEST_Q_DIR overrides the folder (to check freshly generated models before committing them).
std::string q_dir() {
  const char* env = std::getenv("KILN_TEST_Q_DIR");
  return env ? std::string(env) : std::string(KILN_TEST_MODELS_DIR) + "/q";
}

// A little-endian uint8 C-order .npy file (what the generator writes for codes).
bool read_npy_u8(const std::string& path, Shape* shape, std::vector<uint8_t>* data, std::string* error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return *error = "cannot open " + path, false;
  const std::string b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0) return *error = path + ": not a .npy file", false;
  const bool v1 = b[6] == 1;
  size_t hlen = static_cast<unsigned char>(b[8]) | static_cast<size_t>(static_cast<unsigned char>(b[9])) << 8;
  if (!v1) hlen |= static_cast<size_t>(static_cast<unsigned char>(b[10])) << 16 | static_cast<size_t>(static_cast<unsigned char>(b[11])) << 24;
  const size_t off = v1 ? 10 : 12;
  if (off + hlen > b.size()) return *error = path + ": truncated header", false;
  const std::string h = b.substr(off, hlen);
  if (h.find("'|u1'") == std::string::npos || h.find("'fortran_order': False") == std::string::npos) {
    return *error = path + ": expected uint8 in C order", false;
  }
  const size_t l = h.find('(', h.find("'shape'")), r = h.find(')', l);
  if (l == std::string::npos || r == std::string::npos) return *error = path + ": no shape", false;
  shape->clear();
  size_t n = 1;
  const std::string dims = h.substr(l + 1, r - l - 1);
  for (size_t p = 0; p < dims.size();) {
    while (p < dims.size() && (dims[p] == ' ' || dims[p] == ',')) ++p;
    if (p >= dims.size()) break;
    const int64_t d = std::strtoll(dims.c_str() + p, nullptr, 10);
    shape->push_back(d);
    n *= static_cast<size_t>(d);
    while (p < dims.size() && dims[p] != ',') ++p;
  }
  if (off + hlen + n > b.size()) return *error = path + ": truncated data", false;
  data->assign(b.begin() + static_cast<long>(off + hlen), b.begin() + static_cast<long>(off + hlen + n));
  return true;
}

class ScopedIsa {
 public:
  explicit ScopedIsa(const char* isa) {
    const char* old = std::getenv("KILN_ISA");
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv("KILN_ISA", isa, 1);
  }
  ~ScopedIsa() {
    if (had_) setenv("KILN_ISA", old_.c_str(), 1);
    else unsetenv("KILN_ISA");
  }

 private:
  bool had_ = false;
  std::string old_;
};

// The name of the u8 value feeding the first graph output's kiln.Dequantize.
std::string output_codes_value(const Graph& g) {
  const int o = g.outputs.at(0);
  for (const Node& n : g.nodes) {
    if (n.op == "kiln.Dequantize" && !n.outputs.empty() && n.outputs[0] == o) return g.values[n.inputs[0]].name;
  }
  return g.values[o].dtype == DType::u8 ? g.values[o].name : "";
}

struct QModel {
  std::string stem;   // resnet18_w8a8
  std::string model;  // resnet18
};

std::vector<QModel> committed_models() {
  std::vector<QModel> v;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(q_dir(), ec)) {
    if (entry.path().extension() != ".kiln") continue;
    QModel m;
    m.stem = entry.path().stem().string();
    const size_t cut = m.stem.rfind("_w");
    m.model = cut == std::string::npos ? m.stem : m.stem.substr(0, cut);
    v.push_back(m);
  }
  std::sort(v.begin(), v.end(), [](const QModel& a, const QModel& b) { return a.stem < b.stem; });
  return v;
}

TEST(QModelsCommitted, QMatchesCommittedQFloatCodes) {
  ASSERT_TRUE(fs::exists(q_dir())) << q_dir() << " is missing: run kiln_make_q_models (host) and commit its output";
  const std::vector<QModel> models = committed_models();
  ASSERT_FALSE(models.empty()) << "no .kiln files in " << q_dir();
  for (const QModel& m : models) {
    SCOPED_TRACE(m.stem);
    std::string e;
    KilnFile file;
    ASSERT_TRUE(load_kiln(q_dir() + "/" + m.stem + ".kiln", &file, &e)) << e;
    Shape want_shape;
    std::vector<uint8_t> want;
    ASSERT_TRUE(read_npy_u8(q_dir() + "/" + m.stem + ".codes.npy", &want_shape, &want, &e)) << e;
    test::NpyF32 in;
    ASSERT_TRUE(test::read_npy_f32(std::string(KILN_TEST_MODELS_DIR) + "/" + m.model + ".input.npy", &in, &e)) << e;
    const std::string codes_name = output_codes_value(file.graph);
    ASSERT_FALSE(codes_name.empty()) << "the first output is not dequantized codes";
    for (kernels::Isa isa : kernels::compiled_isas()) {
      if (!kernels::cpu_supports(isa)) continue;
      const std::string isa_name(kernels::isa_name(isa));
      ScopedIsa scoped(isa_name.c_str());
      ModelOptions mo;
      mo.canonicalize = false;
      auto model = Model::create(file.graph, &e, mo);
      ASSERT_TRUE(model) << isa_name << ": " << e;
      Session s(model);
      std::vector<uint8_t> got;
      Shape got_shape;
      s.set_value_observer([&](int, const std::string& name, const Tensor& t) {
        if (name != codes_name || t.dtype() != DType::u8) return;
        const Tensor p = to_plain(t);
        got_shape = p.shape();
        got.assign(p.data<uint8_t>(), p.data<uint8_t>() + p.elements());
      });
      Tensor x(DType::f32, Shape(in.shape.begin(), in.shape.end()));
      std::copy(in.data.begin(), in.data.end(), x.mutable_data<float>());
      ASSERT_EQ(s.set_input(model->input_names().at(0), x), "");
      ASSERT_EQ(s.run(), "") << isa_name;
      ASSERT_EQ(got_shape, want_shape) << isa_name << ": codes of '" << codes_name << "'";
      size_t equal = 0;
      int worst = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        const int d = std::abs(int(got[i]) - int(want[i]));
        equal += d == 0;
        worst = std::max(worst, d);
      }
      const double fraction = got.empty() ? 0.0 : static_cast<double>(equal) / static_cast<double>(got.size());
      std::printf("[ q==qfloat ] %-24s %-10s %zu/%zu output codes equal (%.4f%%), max %d LSB\n", m.stem.c_str(),
                  isa_name.c_str(), equal, got.size(), 100.0 * fraction, worst);
      EXPECT_GE(fraction, 0.999) << isa_name;
      EXPECT_LE(worst, 1) << isa_name;
    }
  }
}

TEST(QModelsCommitted, NpyReaderRejectsBadFiles) {
  const std::string path = ::testing::TempDir() + "/kiln_q_models_bad.npy";
  Shape s;
  std::vector<uint8_t> d;
  std::string e;
  {
    std::ofstream f(path, std::ios::binary);
    f << "not an npy file";
  }
  EXPECT_FALSE(read_npy_u8(path, &s, &d, &e));
  {
    std::ofstream f(path, std::ios::binary);
    const std::string header = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }";
    f << "\x93NUMPY" << '\x01' << '\x00' << static_cast<char>(header.size()) << '\x00' << header << "abc";  // 3 of 6 bytes
  }
  EXPECT_FALSE(read_npy_u8(path, &s, &d, &e));
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  EXPECT_FALSE(read_npy_u8(path + ".missing", &s, &d, &e));
}

}  // namespace
}  // namespace kiln
