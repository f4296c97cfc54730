// A reconstruction block: a small DAG of layers taken from one unit of a Float' graph (a fused
// Conv node is one layer: conv + bias + residual add + activation), with a forward that caches what
// backward needs and a backward that yields the gradients of the AdaRound variables, the LSQ scales
// and the block inputs.
//
// Values are NHWC per sample. Value ids: 0 .. inputs-1 are the block inputs, then one value per
// layer (layer i writes value inputs + i). The last layer's value is the block output.
//
// Quantized mode follows QFloat's math in real units: a conv / gemm reads dequantized input codes,
// multiplies by s_w * (soft or hard) weight codes, adds the bias as QFloat rounds it
// (s_in s_w round(b / (s_in s_w))), the dequantized residual and the activation, then the output
// quantizer (requant.h's rounding and clamping). Once hardened (AdaRound hard codes), the block
// output equals what freeze + Q compute up to fp32 summation order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kiln/calib/quant_params.h"
#include "kiln/calib/recon/dnnl_layers.h"
#include "kiln/calib/recon/quantizers.h"

namespace kiln::calib::recon {

// activation: a standalone element-wise function (a lookup table in Q); mul: x * y, y of x's shape or
// [1, 1, C] broadcast over x's pixels (a squeeze-excitation gate).
enum class LayerKind : uint8_t { conv, gemm, add, max_pool, avg_pool, global_avg_pool, concat, activation, mul };
enum class ActKind : uint8_t { none, relu, clip, hardswish, sigmoid, silu, hardsigmoid, tanh, leaky_relu, gelu };

struct LayerSpec {
  std::string name;
  LayerKind kind = LayerKind::conv;
  std::vector<int> inputs;  // conv: x [, residual]; gemm: x (h = w = 1 or flattened NHWC); add: a, b; concat: any
  ConvGeometry conv;        // conv
  PoolGeometry pool;        // max_pool, avg_pool (channels filled in by the block)
  size_t gemm_out = 0;      // gemm
  size_t flatten_hw = 0;    // gemm: > 1 when weight columns were permuted from an NCHW flatten (c, hw) to NHWC
  std::vector<float> weight;  // conv OIHW, gemm [out, K] (K in NHWC flatten order)
  std::vector<float> bias;    // empty: none
  ActKind act = ActKind::none;
  float act_lo = 0.0f, act_hi = 6.0f;  // clip
  float act_alpha = 0.0f, act_beta = 0.0f;  // hardsigmoid: alpha, beta; leaky_relu: alpha
  int wbits = 0;  // weighted layers: 0 = BlockQuantOptions::wbits (the plan's per-layer bits)
  int abits = 0;  // the layer's output quantizer: 0 = BlockQuantOptions::abits
};

struct Dims {
  size_t h = 1, w = 1, c = 1;
  size_t elements() const { return h * w * c; }
};

struct BlockQuantOptions {
  int wbits = 4;
  int abits = 8;
  bool quantize_activations = true;   // LSQ quantizers on the layer outputs
  bool quantize_output = true;        // ...including the block output
  // Fixed quantizers on the block inputs (empty / nullopt: the input arrives float or already quantized).
  std::vector<std::optional<QuantParams>> input_params;
  // false: inputs arrive already quantized with input_params (or mixed with float values by QDrop);
  // their scales still give the bias rounding, but forward does not quantize them again.
  bool quantize_inputs = true;
};

class Block {
 public:
  std::string init(std::vector<LayerSpec> layers, std::vector<Dims> input_dims);
  size_t num_inputs() const { return input_dims_.size(); }
  size_t num_values() const { return dims_.size(); }
  const Dims& dims(size_t value) const { return dims_[value]; }
  const Dims& output_dims() const { return dims_.back(); }
  const std::vector<LayerSpec>& layers() const { return layers_; }
  std::vector<LayerSpec>& mutable_layers() { return layers_; }

  // Sets up AdaRound (MSE weight scales) and LSQ (MSE-observed ranges over a float forward of
  // `calib_inputs`, `n` samples) quantizers. Until then (or with quantized(false)) the block is float.
  std::string enable_quantization(const BlockQuantOptions& options, const std::vector<const float*>& calib_inputs,
                                  size_t n);
  static constexpr size_t kObserveBatch = 32;  // samples per forward while the ranges are observed
  bool quantization_enabled() const { return quant_enabled_; }
  void set_quantized(bool on) { quantized_ = on && quant_enabled_; }
  bool quantized() const { return quantized_; }
  // Drops activation quantization per element with this probability (QDrop) in quantized forwards.
  void set_drop(float p, uint64_t seed, uint64_t step) { drop_p_ = p; drop_seed_ = seed; drop_step_ = step; }
  void set_hard(bool hard);  // AdaRound hard codes from now on

  // Forward over n samples; inputs[i] is [n, dims(i)]. The output stays valid until the next forward.
  std::string forward(const std::vector<const float*>& inputs, size_t n);
  const float* output() const { return val_[dims_.size() - 1].data(); }
  const float* value(size_t v) const { return v < num_inputs() ? in_ptr_[v] : val_[v].data(); }

  // Backward from dL/d(output) of the last forward. Fills weight_grad(l) (dL/d effective weights),
  // adds to adaround_grad(l) / lsq_grad(v) when quantized, and input_grad(i).
  std::string backward(const float* d_output);
  const std::vector<float>& weight_grad(size_t layer) const { return wgrad_[layer]; }
  const std::vector<float>& bias_grad(size_t layer) const { return bgrad_[layer]; }
  const std::vector<float>& input_grad(size_t input) const { return dval_[input]; }

  // Trainable state (quantized mode).
  std::vector<AdaRoundQuantizer>& adaround() { return ada_; }       // one per layer (empty for unweighted)
  std::vector<std::optional<LsqQuantizer>>& lsq() { return lsq_; }  // one per value
  std::vector<std::vector<float>>& adaround_grad() { return vgrad_; }
  std::vector<double>& lsq_grad() { return sgrad_; }
  void zero_grads();
  // Which values' LSQ scales are learned (block inputs' are fixed).
  bool lsq_learned(size_t value) const { return value >= num_inputs() && lsq_[value].has_value(); }

 private:
  std::string layer_forward(size_t l, size_t n);
  std::string layer_backward(size_t l, size_t n);
  void effective_params(size_t l);

  std::string activation_forward(size_t l, size_t count, const float* x, float* y) const;
  void activation_backward(size_t l, size_t count, const float* x, float* d) const;

  std::vector<LayerSpec> layers_;
  std::vector<Dims> input_dims_;
  std::vector<Dims> dims_;  // per value
  std::vector<ConvLayer> conv_;
  std::vector<InnerProductLayer> ip_;
  std::vector<PoolLayer> pool_;
  std::vector<EltwiseLayer> act_;

  // quantization
  bool quant_enabled_ = false, quantized_ = false, quantize_inputs_ = true;
  float drop_p_ = 0.0f;
  uint64_t drop_seed_ = 0, drop_step_ = 0;
  std::vector<AdaRoundQuantizer> ada_;
  std::vector<std::optional<LsqQuantizer>> lsq_;
  std::vector<std::vector<float>> vgrad_;
  std::vector<double> sgrad_;
  size_t elements_per_sample_ = 0;

  // forward cache
  size_t n_ = 0;
  std::vector<const float*> in_ptr_;       // per input: the (quantized) input used
  std::vector<std::vector<float>> in_q_;   // quantized copies of the inputs
  std::vector<std::vector<float>> pre_;    // per layer: before the activation
  std::vector<std::vector<float>> post_;   // per layer: after the activation, before the quantizer
  std::vector<std::vector<float>> val_;    // per value: what consumers read
  std::vector<std::vector<uint8_t>> keep_float_;  // per value: QDrop's choices of the last forward
  std::vector<std::vector<float>> weff_, beff_;  // per layer: effective weights / bias of the last forward
  // backward
  std::vector<std::vector<float>> dval_, wgrad_, bgrad_;
  std::vector<float> scratch_, scratch2_;
  mutable std::vector<float> act_scratch_;  // activation_backward's f(x)
};

}  // namespace kiln::calib::recon
