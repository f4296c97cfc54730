// Hand-built Q graphs (docs/quantized-graph.md) and a direct scalar evaluation of each against the
// spec (requant.h / qops.h), written independently of QFloat: plain NCHW loops, int32 accumulators.
// Shared by the QFloat tests and the Q == QFloat tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/kernels/f32/resize.h"
#include "kiln/kernels/qops.h"
#include "kiln/kernels/requant.h"
#include "kiln/runtime/graph.h"

namespace kiln::qftest {

namespace kk = kernels;

// Deterministic pseudo-random numbers (64-bit LCG).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 6364136223846793005ULL + 1442695040888963407ULL) {}
  uint32_t bits() {
    s_ = s_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(s_ >> 33);
  }
  float uniform(float lo, float hi) { return lo + (hi - lo) * static_cast<float>(bits() % 1000003) / 1000003.0f; }
  int range(int lo, int hi) { return lo + static_cast<int>(bits() % static_cast<uint32_t>(hi - lo + 1)); }

 private:
  uint64_t s_;
};

// A quantized activation: codes in NCHW (or any logical order), with its parameters.
struct QT {
  Shape shape;
  std::vector<uint8_t> q;
  float scale = 1.0f;
  int32_t zp = 0;
  int bits = 8;
};

// ---- graph building
struct Builder {
  Graph g;

  int f32_input(const std::string& name, const Shape& s) {
    Value v;
    v.name = name;
    v.dtype = DType::f32;
    v.shape = s;
    v.shape_known = true;
    const int id = g.add_value(std::move(v));
    g.inputs.push_back(id);
    return id;
  }
  int act(const std::string& name, float scale, int32_t zp, int bits = 8) {
    Value v;
    v.name = name;
    v.dtype = DType::u8;
    v.quant.scales = {scale};
    v.quant.zero_points = {zp};
    v.quant.bits = bits;
    return g.add_value(std::move(v));
  }
  int f32_value(const std::string& name) {
    Value v;
    v.name = name;
    v.dtype = DType::f32;
    return g.add_value(std::move(v));
  }
  int constant(const std::string& name, Tensor t) { return g.add_constant(name, std::move(t)); }
  Node& node(const std::string& op, const std::string& name, std::vector<int> in, std::vector<int> out) {
    Node n;
    n.op = op;
    n.name = name;
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    g.nodes.push_back(std::move(n));
    return g.nodes.back();
  }
  // kiln.Quantize of a graph input into a new activation.
  int quantize(int x, const std::string& name, float scale, int32_t zp, int bits = 8) {
    const int q = act(name, scale, zp, bits);
    Node& n = node("kiln.Quantize", name + "_quantize", {x}, {q});
    n.attrs["qmin"] = Attr::of_int(0);
    n.attrs["qmax"] = Attr::of_int((1 << bits) - 1);
    return q;
  }
  int dequantize(int q, const std::string& name) {
    const int y = f32_value(name);
    node("kiln.Dequantize", name + "_dequantize", {q}, {y});
    return y;
  }
};

inline Tensor s8_tensor(const Shape& s, const std::vector<int8_t>& v) {
  Tensor t(DType::s8, s);
  std::copy(v.begin(), v.end(), t.mutable_data<int8_t>());
  return t;
}
inline Tensor s32_tensor(const std::vector<int32_t>& v) {
  Tensor t(DType::s32, {static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.mutable_data<int32_t>());
  return t;
}
inline Tensor f32_tensor(const Shape& s, const std::vector<float>& v) {
  Tensor t(DType::f32, s);
  std::copy(v.begin(), v.end(), t.mutable_data<float>());
  return t;
}
inline Tensor s64_tensor(const std::vector<int64_t>& v) {
  Tensor t(DType::s64, {static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.mutable_data<int64_t>());
  return t;
}

// ---- reference evaluation (NCHW)
inline kk::QOut qout(const QT& o, int32_t qmin, int32_t qmax) { return {o.zp, qmin, qmax}; }

inline QT ref_quantize(const std::vector<float>& x, const Shape& s, float scale, int32_t zp, int bits = 8) {
  QT t{s, std::vector<uint8_t>(x.size()), scale, zp, bits};
  const kk::QOut o{zp, 0, (1 << bits) - 1};
  for (size_t i = 0; i < x.size(); ++i) t.q[i] = kk::q_quantize(x[i], scale, o);
  return t;
}

struct ConvSpec {
  int64_t out_c = 1, kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, group = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;
};

// `out` carries the output's shape (filled here), scale and zero point. w: OHWI [O, kh, kw, C/g].
inline void ref_conv(const QT& x, const ConvSpec& c, const std::vector<int8_t>& w, const std::vector<int32_t>& bias,
                     const std::vector<float>& mult, const kk::RequantParams& p, const QT* residual, QT* out) {
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t OH = (H + c.pt + c.pb - ((c.kh - 1) * c.dh + 1)) / c.sh + 1;
  const int64_t OW = (W + c.pl + c.pr - ((c.kw - 1) * c.dw + 1)) / c.sw + 1;
  const int64_t ig = C / c.group, og = c.out_c / c.group;
  out->shape = {N, c.out_c, OH, OW};
  out->q.assign(static_cast<size_t>(N * c.out_c * OH * OW), 0);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t o = 0; o < c.out_c; ++o) {
      const int64_t gi = o / og;
      for (int64_t oy = 0; oy < OH; ++oy) {
        for (int64_t ox = 0; ox < OW; ++ox) {
          int32_t acc = bias[o];
          for (int64_t ky = 0; ky < c.kh; ++ky) {
            for (int64_t kx = 0; kx < c.kw; ++kx) {
              const int64_t iy = oy * c.sh - c.pt + ky * c.dh, ix = ox * c.sw - c.pl + kx * c.dw;
              for (int64_t i = 0; i < ig; ++i) {
                int32_t xv = x.zp;  // padding reads code zx
                if (iy >= 0 && iy < H && ix >= 0 && ix < W) xv = x.q[((n * C + gi * ig + i) * H + iy) * W + ix];
                acc += (xv - x.zp) * w[((o * c.kh + ky) * c.kw + kx) * ig + i];
              }
            }
          }
          const size_t oi = static_cast<size_t>(((n * c.out_c + o) * OH + oy) * OW + ox);
          const uint8_t r = residual ? residual->q[oi] : 0;
          out->q[oi] = kk::requantize(acc, mult[o], r, p);
        }
      }
    }
  }
}

// x [M, K], w [N, K].
inline void ref_gemm(const QT& x, const std::vector<int8_t>& w, int64_t n_out, const std::vector<int32_t>& bias,
                     const std::vector<float>& mult, const kk::RequantParams& p, QT* out) {
  const int64_t M = x.shape[0], K = x.shape[1];
  out->shape = {M, n_out};
  out->q.assign(static_cast<size_t>(M * n_out), 0);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t o = 0; o < n_out; ++o) {
      int32_t acc = bias[o];
      for (int64_t k = 0; k < K; ++k) acc += (x.q[m * K + k] - x.zp) * w[o * K + k];
      out->q[m * n_out + o] = kk::requantize(acc, mult[o], 0, p);
    }
  }
}

// Index of logical element `i` of shape `s` inside a broadcast operand of shape `b` (same rank).
inline size_t broadcast_index(size_t i, const Shape& s, const Shape& b) {
  size_t idx = 0, stride = 1;
  for (int d = static_cast<int>(s.size()) - 1; d >= 0; --d) {
    const size_t coord = i % static_cast<size_t>(s[d]);
    i /= static_cast<size_t>(s[d]);
    if (b[d] != 1) idx += coord * stride;
    stride *= static_cast<size_t>(b[d]);
  }
  return idx;
}

// Element-wise binary op, b broadcast to a's shape (same rank).
template <class F>
inline void ref_binary(const QT& a, const QT& b, QT* out, F f) {
  out->shape = a.shape;
  out->q.resize(a.q.size());
  for (size_t i = 0; i < a.q.size(); ++i) out->q[i] = f(a.q[i], b.q[broadcast_index(i, a.shape, b.shape)]);
}

// Concat along axis 1 of NCHW tensors; multipliers[i] == 0: copy.
inline void ref_concat(const std::vector<const QT*>& in, const std::vector<float>& mult, int32_t qmin, int32_t qmax,
                       QT* out) {
  const int64_t N = in[0]->shape[0], HW = in[0]->shape[2] * in[0]->shape[3];
  int64_t C = 0;
  for (const QT* t : in) C += t->shape[1];
  out->shape = {N, C, in[0]->shape[2], in[0]->shape[3]};
  out->q.resize(static_cast<size_t>(N * C * HW));
  for (int64_t n = 0; n < N; ++n) {
    int64_t c0 = 0;
    for (size_t k = 0; k < in.size(); ++k) {
      const QT& t = *in[k];
      for (int64_t c = 0; c < t.shape[1]; ++c) {
        for (int64_t j = 0; j < HW; ++j) {
          const uint8_t v = t.q[(n * t.shape[1] + c) * HW + j];
          out->q[(n * C + c0 + c) * HW + j] = mult[k] == 0.0f ? v : kk::q_requantize(v, t.zp, mult[k], qout(*out, qmin, qmax));
        }
      }
      c0 += t.shape[1];
    }
  }
}

struct PoolSpec {
  int64_t kh = 2, kw = 2, sh = 2, sw = 2, pt = 0, pl = 0, pb = 0, pr = 0;
  bool ceil_mode = false, count_include_pad = false;
  int64_t out(int64_t in, int64_t pb_, int64_t pe, int64_t k, int64_t s) const {
    const int64_t span = in + pb_ + pe - k;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + pb_) --o;
    return o;
  }
};

// max (is_max) or average pooling of NCHW codes.
inline void ref_pool(const QT& x, const PoolSpec& p, bool is_max, float mult, int32_t qmin, int32_t qmax, QT* out) {
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t OH = p.out(H, p.pt, p.pb, p.kh, p.sh), OW = p.out(W, p.pl, p.pr, p.kw, p.sw);
  out->shape = {N, C, OH, OW};
  out->q.assign(static_cast<size_t>(N * C * OH * OW), 0);
  for (int64_t nc = 0; nc < N * C; ++nc) {
    for (int64_t oy = 0; oy < OH; ++oy) {
      for (int64_t ox = 0; ox < OW; ++ox) {
        const int64_t hs = oy * p.sh - p.pt, ws = ox * p.sw - p.pl;
        int32_t best = -1, sum = 0;
        int64_t count = 0;
        for (int64_t iy = hs; iy < hs + p.kh; ++iy) {
          for (int64_t ix = ws; ix < ws + p.kw; ++ix) {
            if (p.count_include_pad && iy < H + p.pb && ix < W + p.pr) ++count;  // window clipped to the padded input
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            if (!p.count_include_pad) ++count;
            const int32_t v = x.q[(nc * H + iy) * W + ix];
            best = std::max(best, v);
            sum += v - x.zp;
          }
        }
        uint8_t& dst = out->q[(nc * OH + oy) * OW + ox];
        if (is_max) {
          dst = static_cast<uint8_t>(best);
        } else {
          dst = kk::q_avg(sum, kk::q_avg_multiplier(mult, static_cast<int32_t>(count)), qout(*out, qmin, qmax));
        }
      }
    }
  }
}

// Resize of NCHW codes on the f32 kernel (the spec: nearest copies, linear = q_from_interpolated_code
// of the f32 resize of float(code)).
inline void ref_resize(const QT& x, int64_t oh, int64_t ow, bool linear, QT* out) {
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  std::vector<float> in(x.q.size()), res(static_cast<size_t>(N * C * oh * ow));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < H * W; ++j) in[(n * H * W + j) * C + c] = x.q[(n * C + c) * H * W + j];
  kk::f32::Resize2dParams p;
  p.batch = static_cast<size_t>(N);
  p.in_h = static_cast<size_t>(H);
  p.in_w = static_cast<size_t>(W);
  p.channels = static_cast<size_t>(C);
  p.out_h = static_cast<size_t>(oh);
  p.out_w = static_cast<size_t>(ow);
  p.mode = linear ? kk::f32::ResizeMode::linear : kk::f32::ResizeMode::nearest;
  p.coord = linear ? kk::f32::ResizeCoord::half_pixel : kk::f32::ResizeCoord::asymmetric;
  p.nearest = kk::f32::ResizeNearest::floor;
  kk::f32::resize2d(p, in.data(), res.data());
  out->shape = {N, C, oh, ow};
  out->q.resize(res.size());
  const kk::QOut o{out->zp, 0, 255};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < oh * ow; ++j) {
        const float v = res[(n * oh * ow + j) * C + c];
        out->q[(n * C + c) * oh * ow + j] = linear ? kk::q_from_interpolated_code(v, o) : static_cast<uint8_t>(v);
      }
}

}  // namespace kiln::qftest
