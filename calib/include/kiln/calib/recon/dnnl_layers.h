// fp32 forward and backward (data and weights) of the layers that sit inside a reconstruction unit,
// on oneDNN (reconstruction time is spent here). Activations are NHWC, weights are ONNX's OIHW
// ([out_c, in_c / groups, kh, kw]; depthwise [C, 1, kh, kw]) and Gemm's [N, K].
//
// Each layer caches its oneDNN primitives per (batch, input size, thread count); weights are
// reordered into the primitive's preferred layout on every call (they are small next to the
// activations, and AdaRound changes them every step). Errors come back as strings, never exceptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include <tuple>

namespace kiln::calib::recon {

// Threads oneDNN uses from the calling thread on (OpenMP). <= 0: every hardware thread.
void set_compute_threads(int threads);
int compute_threads();

// Weight gradients sum over the batch in fixed chunks of this many samples, each chunk reduced by a
// one-thread oneDNN primitive, the chunks spread over the threads and added in chunk order: oneDNN's
// own multi-thread reductions add in an order that depends on the thread count, and reconstruction
// must give the same model for a seed whatever --threads is.
inline constexpr size_t kGradChunk = 8;

struct GradSlots;  // the chunks' per-thread streams and buffers (dnnl_layers.cc)

struct ConvGeometry {
  size_t in_c = 0, out_c = 0, groups = 1;
  size_t kernel_h = 1, kernel_w = 1;
  size_t stride_h = 1, stride_w = 1;
  size_t dilation_h = 1, dilation_w = 1;
  size_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;

  size_t out_h(size_t in_h) const;  // 0 when the kernel does not fit
  size_t out_w(size_t in_w) const;
  size_t weight_elements() const { return out_c * (in_c / (groups ? groups : 1)) * kernel_h * kernel_w; }
  std::string validate() const;  // "" when valid
};

class ConvLayer {
 public:
  ConvLayer();
  ~ConvLayer();
  ConvLayer(ConvLayer&&) noexcept;
  ConvLayer& operator=(ConvLayer&&) noexcept;
  std::string init(const ConvGeometry& g);
  const ConvGeometry& geometry() const { return g_; }

  // y[n, oh, ow, out_c] = conv(x[n, h, w, in_c], weight) + bias (bias may be null).
  std::string forward(size_t n, size_t h, size_t w, const float* x, const float* weight, const float* bias, float* y);
  // dx = conv^T(dy, weight).
  std::string backward_data(size_t n, size_t h, size_t w, const float* dy, const float* weight, float* dx);
  // dweight (OIHW) and dbias (may be null) from x and dy; overwritten, not accumulated. The same
  // bits whatever the thread count (see kGradChunk).
  std::string backward_weights(size_t n, size_t h, size_t w, const float* x, const float* dy, float* dweight,
                               float* dbias);

 private:
  struct Prims;
  struct GradPrims;
  Prims* prims(size_t n, size_t h, size_t w, std::string* error);
  GradPrims* grad_prims(size_t n, size_t h, size_t w, std::string* error);
  ConvGeometry g_;
  std::map<std::tuple<size_t, size_t, size_t, int>, std::unique_ptr<Prims>> cache_;
  std::map<std::tuple<size_t, size_t, size_t>, std::unique_ptr<GradPrims>> grad_cache_;
  std::unique_ptr<GradSlots> grad_slots_;
  std::vector<float> partial_w_, partial_b_;
};

// Gemm / inner product: y[m, n_out] = x[m, k] * weight[n_out, k]^T + bias.
class InnerProductLayer {
 public:
  InnerProductLayer();
  ~InnerProductLayer();
  InnerProductLayer(InnerProductLayer&&) noexcept;
  InnerProductLayer& operator=(InnerProductLayer&&) noexcept;
  std::string init(size_t k, size_t n_out);
  size_t k() const { return k_; }
  size_t n_out() const { return n_; }
  std::string forward(size_t m, const float* x, const float* weight, const float* bias, float* y);
  std::string backward_data(size_t m, const float* dy, const float* weight, float* dx);
  // The same bits whatever the thread count (see kGradChunk).
  std::string backward_weights(size_t m, const float* x, const float* dy, float* dweight, float* dbias);

 private:
  struct Prims;
  struct GradPrims;
  Prims* prims(size_t m, std::string* error);
  GradPrims* grad_prims(size_t m, std::string* error);
  size_t k_ = 0, n_ = 0;
  std::map<std::pair<size_t, int>, std::unique_ptr<Prims>> cache_;
  std::map<size_t, std::unique_ptr<GradPrims>> grad_cache_;
  std::unique_ptr<GradSlots> grad_slots_;
  std::vector<float> partial_w_, partial_b_;
};

enum class EltwiseKind : uint8_t { relu, clip, hardswish };

// Elementwise activation; clip keeps [lo, hi] (ReLU6 is clip(0, 6)). Backward uses the forward input.
class EltwiseLayer {
 public:
  EltwiseLayer();
  ~EltwiseLayer();
  EltwiseLayer(EltwiseLayer&&) noexcept;
  EltwiseLayer& operator=(EltwiseLayer&&) noexcept;
  void init(EltwiseKind kind, float lo = 0.0f, float hi = 6.0f);
  EltwiseKind kind() const { return kind_; }
  std::string forward(size_t count, const float* x, float* y);
  std::string backward(size_t count, const float* x, const float* dy, float* dx);

 private:
  struct Prims;
  Prims* prims(size_t count, std::string* error);
  EltwiseKind kind_ = EltwiseKind::relu;
  float lo_ = 0.0f, hi_ = 6.0f;
  std::map<std::pair<size_t, int>, std::unique_ptr<Prims>> cache_;
};

enum class PoolKind : uint8_t { max, avg_include_pad, avg_exclude_pad };

struct PoolGeometry {
  PoolKind kind = PoolKind::max;
  size_t channels = 0;
  size_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1;
  size_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  size_t out_h(size_t in_h) const;
  size_t out_w(size_t in_w) const;
};

// Max / average pooling (global average pooling: kernel = input size). Max pooling keeps the
// workspace of the LAST forward call for backward: call backward before the next forward.
class PoolLayer {
 public:
  PoolLayer();
  ~PoolLayer();
  PoolLayer(PoolLayer&&) noexcept;
  PoolLayer& operator=(PoolLayer&&) noexcept;
  std::string init(const PoolGeometry& g);
  const PoolGeometry& geometry() const { return g_; }
  std::string forward(size_t n, size_t h, size_t w, const float* x, float* y);
  std::string backward(size_t n, size_t h, size_t w, const float* dy, float* dx);

 private:
  struct Prims;
  Prims* prims(size_t n, size_t h, size_t w, std::string* error);
  PoolGeometry g_;
  std::map<std::tuple<size_t, size_t, size_t, int>, std::unique_ptr<Prims>> cache_;
  Prims* last_ = nullptr;
};

}  // namespace kiln::calib::recon
