// Acceptance 1 of issue #6: Q (the integer runtime, Model::create without canonicalisation) and
// QFloat (QFloatSession) give the same output codes on >= 99.9% of elements, never more than 1 LSB
// apart. On every test model (tests/models/*.onnx) quantized W8A8 (minmax) and W4A8 by
// quantize_graph, at every ISA this build and CPU can run (KILN_ISA set per run), and on the
// hand-built Q graphs of test_qfloat_cases.h. Compared: the codes feeding each final
// kiln.Dequantize; the agreement over every quantized value of the graph is printed too.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "calib/test_qfloat_cases.h"
#include "calib/test_quantize_source.h"
#include "kiln/calib/data/npy.h"
#include "kiln/calib/qfloat.h"
#include "kiln/calib/quantize.h"
#include "kiln/kernels/isa.h"
#include "kiln/onnx/importer.h"
#include "kiln/runtime/model.h"

namespace kiln {
namespace {

using Codes = std::map<std::string, std::vector<uint8_t>>;

// Agreement of two code arrays.
struct Agreement {
  size_t total = 0, equal = 0;
  int max_diff = 0;
  void add(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    if (a.size() != b.size()) {
      max_diff = 256;  // a shape disagreement fails the contract
      return;
    }
    for (size_t i = 0; i < a.size(); ++i) {
      const int d = std::abs(int(a[i]) - int(b[i]));
      equal += d == 0;
      max_diff = std::max(max_diff, d);
    }
    total += a.size();
  }
  double fraction() const { return total ? static_cast<double>(equal) / static_cast<double>(total) : 0.0; }
  bool meets_contract() const { return total > 0 && fraction() >= 0.999 && max_diff <= 1; }
};

// The ISAs whose integer kernels this build and CPU run ("" = the default choice first).
std::vector<std::string> usable_isas() {
  std::vector<std::string> v;
  for (kernels::Isa isa : kernels::compiled_isas()) {
    if (kernels::cpu_supports(isa)) v.emplace_back(kernels::isa_name(isa));
  }
  return v;
}

// Sets KILN_ISA for the lifetime of the object (restores the previous value).
class ScopedIsa {
 public:
  explicit ScopedIsa(const std::string& isa) {
    const char* old = std::getenv("KILN_ISA");
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv("KILN_ISA", isa.c_str(), 1);
  }
  ~ScopedIsa() {
    if (had_) setenv("KILN_ISA", old_.c_str(), 1);
    else unsetenv("KILN_ISA");
  }

 private:
  bool had_ = false;
  std::string old_;
};

// The names of the u8 values feeding the graph outputs' kiln.Dequantize nodes (the value itself
// for a u8 output).
std::vector<std::string> output_code_values(const Graph& q) {
  std::vector<std::string> names;
  for (int o : q.outputs) {
    if (q.values[o].dtype == DType::u8) {
      names.push_back(q.values[o].name);
      continue;
    }
    for (const Node& n : q.nodes) {
      if (!n.dead && n.op == "kiln.Dequantize" && !n.outputs.empty() && n.outputs[0] == o) {
        names.push_back(q.values[n.inputs[0]].name);
      }
    }
  }
  return names;
}

using Inputs = std::vector<std::pair<std::string, Tensor>>;

// Runs Q on the integer runtime (KILN_ISA = isa) and collects every u8 value by name.
bool run_q(const Graph& q, const Inputs& inputs, const std::string& isa, Codes* codes, std::string* e) {
  ScopedIsa scoped(isa);
  ModelOptions mo;
  mo.canonicalize = false;
  auto m = Model::create(q, e, mo);
  if (!m) return false;
  Session s(m);
  s.set_value_observer([&](int, const std::string& name, const Tensor& t) {
    if (t.dtype() != DType::u8) return;
    const Tensor p = to_plain(t);
    (*codes)[name].assign(p.data<uint8_t>(), p.data<uint8_t>() + p.elements());
  });
  for (const auto& [name, t] : inputs) {
    if (*e = s.set_input(name, t); !e->empty()) return false;
  }
  *e = s.run();
  return e->empty();
}

// Runs QFloat and collects every u8 value of the Q graph by name.
bool run_qfloat(const Graph& q, const Inputs& inputs, Codes* codes, std::string* e) {
  std::unique_ptr<calib::QFloatSession> s;
  if (!calib::QFloatSession::create(q, &s, e)) return false;
  for (const auto& [name, t] : inputs) {
    if (!s->set_input(name, t, e)) return false;
  }
  if (!s->run(e)) return false;
  for (const Value& v : q.values) {
    if (v.dtype != DType::u8 || v.constant) continue;
    const Tensor* t = s->value(v.name);
    if (t) (*codes)[v.name].assign(t->data<uint8_t>(), t->data<uint8_t>() + t->elements());
  }
  return true;
}

struct Result {
  Agreement outputs, all;
};

// Q at `isa` against QFloat's codes.
Result compare(const Graph& q, const Codes& qf, const Codes& qi) {
  Result r;
  for (const std::string& name : output_code_values(q)) {
    auto a = qf.find(name), b = qi.find(name);
    if (a == qf.end() || b == qi.end()) {
      r.outputs.max_diff = 256;
      ADD_FAILURE() << "no codes for output value '" << name << "'";
      continue;
    }
    r.outputs.add(a->second, b->second);
  }
  for (const auto& [name, codes] : qf) {
    auto b = qi.find(name);
    if (b != qi.end()) r.all.add(codes, b->second);
  }
  return r;
}

void report(const std::string& what, const std::string& isa, const Result& r) {
  std::printf("[ q==qfloat ] %-28s %-10s outputs %zu/%zu equal (%.4f%%), max %d LSB; all values %zu/%zu (%.4f%%), max %d\n",
              what.c_str(), isa.c_str(), r.outputs.equal, r.outputs.total, 100.0 * r.outputs.fraction(),
              r.outputs.max_diff, r.all.equal, r.all.total, 100.0 * r.all.fraction(), r.all.max_diff);
}

// ---- hand-built Q graphs (every op kind), every ISA
TEST(QEqualsQFloat, HandBuiltGraphs) {
  std::vector<qftest::Case> cases;
  qftest::ConvCase cc;
  cc.spec.out_c = 8;
  cc.spec.kh = cc.spec.kw = 3;
  cc.spec.pt = cc.spec.pl = cc.spec.pb = cc.spec.pr = 1;
  cc.act = "relu";
  cc.residual = true;
  cases.push_back(qftest::conv_case(1, cc));
  cc.residual = false;
  cc.act = "hardswish";
  cc.spec.sh = cc.spec.sw = 2;
  cc.spec.out_c = 12;
  cases.push_back(qftest::conv_case(2, cc));
  cc.spec.group = 8;
  cc.spec.out_c = 8;
  cc.spec.sh = cc.spec.sw = 1;
  cc.act = "relu6";
  cases.push_back(qftest::conv_case(3, cc));  // depthwise
  cc.spec.group = 1;
  cc.wbits = 4;
  cc.act = "none";
  cases.push_back(qftest::conv_case(4, cc));
  cases.push_back(qftest::gemm_case(5, 6, 40, 17, true));
  cases.push_back(qftest::binary_case(6, {1, 6, 5, 4}, {1, 6, 1, 1}, true));
  cases.push_back(qftest::binary_case(7, {1, 6, 5, 4}, {1, 6, 1, 1}, false));
  cases.push_back(qftest::concat_case(8));
  qftest::PoolSpec p3;
  p3.kh = p3.kw = 3;
  p3.pt = p3.pl = p3.pb = p3.pr = 1;
  cases.push_back(qftest::pool_case(9, "max", p3, {1, 4, 9, 8}));
  p3.count_include_pad = true;
  cases.push_back(qftest::pool_case(10, "avg", p3, {1, 4, 9, 8}));
  cases.push_back(qftest::pool_case(11, "gap", {}, {1, 6, 7, 5}));
  cases.push_back(qftest::lut_case(12, kernels::LutFunction::hardswish));
  cases.push_back(qftest::resize_case(13, false));
  cases.push_back(qftest::resize_case(14, true));
  for (const std::string& isa : usable_isas()) {
    for (const qftest::Case& c : cases) {
      Inputs in;
      ASSERT_TRUE(qftest::set_inputs(c, [&](const std::string& n, const Tensor& t) {
        in.emplace_back(n, t.clone());
        return true;
      }));
      Codes qf, qi;
      std::string e;
      ASSERT_TRUE(run_qfloat(c.b.g, in, &qf, &e)) << c.name << ": " << e;
      ASSERT_TRUE(run_q(c.b.g, in, isa, &qi, &e)) << c.name << " at " << isa << ": " << e;
      const Result r = compare(c.b.g, qf, qi);
      // Small cases with exact fp32 accumulations: the codes must be identical, and equal the spec.
      EXPECT_EQ(r.outputs.equal, r.outputs.total) << c.name << " at " << isa;
      EXPECT_EQ(qi["y"], c.expected.q) << c.name << " at " << isa << ": Q differs from the spec";
      if (r.outputs.equal != r.outputs.total) report(c.name, isa, r);
    }
  }
}

// ---- the test models
struct Loaded {
  Graph float_graph;
  calib::FloatTensor input;
};

bool load(const std::string& model, Loaded* out, std::string* e) {
  const std::string dir = KILN_TEST_MODELS_DIR;
  Graph g;
  if (!onnx::import_model_file(dir + "/" + model + ".onnx", &g, e)) return false;
  auto m = Model::create(g, e);
  if (!m) return false;
  out->float_graph = m->logical_graph();
  return calib::read_npy_float(dir + "/" + model + ".input.npy", &out->input, e);
}

// Calibration samples: the committed input's samples, then deterministic perturbations of them.
calib::testing::VectorSource calibration_source(const calib::FloatTensor& in, size_t count) {
  const size_t batch = static_cast<size_t>(in.shape[0]);
  const size_t per = in.data.size() / batch;
  double sq = 0;
  for (float v : in.data) sq += static_cast<double>(v) * v;
  const float rms = static_cast<float>(std::sqrt(sq / static_cast<double>(in.data.size())));
  calib::testing::Lcg rng(7);
  std::vector<std::vector<float>> samples;
  for (size_t i = 0; i < count; ++i) {
    const float* s = in.data.data() + (i % batch) * per;
    std::vector<float> x(s, s + per);
    if (i >= batch) {
      for (float& v : x) v += 0.2f * rms * rng.next();
    }
    samples.push_back(std::move(x));
  }
  return calib::testing::VectorSource(std::vector<int64_t>(in.shape.begin() + 1, in.shape.end()), samples);
}

class QEqualsQFloatModels : public ::testing::TestWithParam<const char*> {};

TEST_P(QEqualsQFloatModels, W8A8AndW4A8) {
  std::string e;
  Loaded m;
  ASSERT_TRUE(load(GetParam(), &m, &e)) << e;
  for (int wbits : {8, 4}) {
    calib::testing::VectorSource src = calibration_source(m.input, 8);
    calib::QuantizeOptions o;
    o.wbits = wbits;
    o.abits = 8;
    o.activation_method = calib::RangeMethod::minmax;
    o.samples = 8;
    o.batch = 4;
    calib::QuantizeResult qr;
    ASSERT_TRUE(calib::quantize_graph(m.float_graph, src, o, &qr, &e)) << "W" << wbits << "A8: " << e;
    ASSERT_FALSE(output_code_values(qr.q).empty()) << "no quantized output to compare";
    if (wbits == 4) {  // some channels are stored as codes of -w (negative scale): that path is compared too
      size_t negative = 0;
      for (const Value& v : qr.q.values) {
        for (float s : v.quant.scales) negative += s < 0.0f ? 1 : 0;
      }
      EXPECT_GT(negative, 0u) << GetParam() << ": no weight channel with a negative scale at 4 bits";
    }
    // The committed sample input.
    Inputs in;
    Tensor x(DType::f32, Shape(m.input.shape.begin(), m.input.shape.end()));
    std::memcpy(x.mutable_raw(), m.input.data.data(), m.input.data.size() * sizeof(float));
    in.emplace_back(qr.q.values[qr.q.inputs[0]].name, x.clone());
    Codes qf;
    ASSERT_TRUE(run_qfloat(qr.q, in, &qf, &e)) << e;
    for (const std::string& isa : usable_isas()) {
      Codes qi;
      ASSERT_TRUE(run_q(qr.q, in, isa, &qi, &e)) << isa << ": " << e;
      const Result r = compare(qr.q, qf, qi);
      const std::string what = std::string(GetParam()) + " W" + std::to_string(wbits) + "A8";
      report(what, isa, r);
      EXPECT_TRUE(r.outputs.meets_contract())
          << what << " at " << isa << ": " << r.outputs.equal << "/" << r.outputs.total << " output codes equal, max "
          << r.outputs.max_diff << " LSB";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllModels, QEqualsQFloatModels,
                         ::testing::Values("resnet18", "mobilenetv2", "mobilenetv3_small", "efficientnet_like",
                                           "shufflenetv2", "unet_like", "transformer", "transformer_op13"),
                         [](const ::testing::TestParamInfo<const char*>& p) { return std::string(p.param); });

}  // namespace
}  // namespace kiln
