#include "kiln/calib/recon/dnnl_layers.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>

#include "oneapi/dnnl/dnnl.hpp"

// oneDNN runs on OpenMP here (Debian's build); the thread count is the calling thread's ICV.
extern "C" {
void omp_set_num_threads(int);
int omp_get_max_threads(void);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
void GOMP_parallel(void (*fn)(void*), void* data, unsigned num_threads, unsigned flags);  // libgomp's ABI
}

namespace kiln::calib::recon {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

struct Dnnl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

// One engine and stream per thread: streams are not meant to be shared between threads.
Dnnl& dnnl_ctx() {
  thread_local Dnnl d;
  return d;
}

memory::dim D(size_t v) { return static_cast<memory::dim>(v); }

memory user_mem(const memory::desc& md, const void* p) {
  return memory(md, dnnl_ctx().engine, const_cast<void*>(p));
}

template <class F>
std::string guarded(F&& f) {
  try {
    f();
    dnnl_ctx().stream.wait();
  } catch (const dnnl::error& e) {
    return std::string("oneDNN: ") + e.what();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// Runs f(chunk, slot) for chunk in [0, chunks) on min(threads, chunks) OpenMP threads (slot: the
// thread's index); oneDNN primitives called inside run on their calling thread alone.
template <class F>
void for_each_chunk(size_t chunks, int threads, F& f) {
  const unsigned t = static_cast<unsigned>(std::max(1, std::min<int>(threads, static_cast<int>(chunks))));
  if (t == 1) {
    for (size_t c = 0; c < chunks; ++c) f(c, 0);
    return;
  }
  struct Ctx {
    F* f;
    size_t chunks;
  } ctx{&f, chunks};
  GOMP_parallel(
      [](void* p) {
        auto* c = static_cast<Ctx*>(p);
        const int slot = omp_get_thread_num(), nt = omp_get_num_threads();
        for (size_t i = static_cast<size_t>(slot); i < c->chunks; i += static_cast<size_t>(nt)) (*c->f)(i, slot);
      },
      &ctx, t, 0);
}

// Creates primitives as a single thread would (oneDNN sizes its work split at creation).
template <class F>
void create_single_threaded(F&& f) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  f();
  omp_set_num_threads(before);
}

// Adds partials [chunks][count] in chunk order into out[count].
void sum_chunks(const std::vector<float>& partials, size_t chunks, size_t count, float* out) {
  std::copy(partials.begin(), partials.begin() + static_cast<std::ptrdiff_t>(count), out);
  for (size_t c = 1; c < chunks; ++c) {
    const float* p = partials.data() + c * count;
    for (size_t i = 0; i < count; ++i) out[i] += p[i];
  }
}

// 64-byte aligned storage of `bytes` (oneDNN's scratchpads and blocked weights want it).
struct AlignedBuffer {
  std::vector<uint8_t> raw;
  explicit AlignedBuffer(size_t bytes) : raw(bytes + 64) {}
  void* data() {
    const auto p = reinterpret_cast<uintptr_t>(raw.data());
    return reinterpret_cast<void*>((p + 63) & ~uintptr_t{63});
  }
};

}  // namespace

// Per-thread-slot streams and buffers of a layer's chunked weight gradients, kept from one call to
// the next (the backward runs every iteration; only a larger batch or more threads regrow them).
struct GradSlots {
  std::vector<dnnl::stream> streams;
  std::vector<AlignedBuffer> scratch, extra;
  size_t scratch_bytes = 0, extra_bytes = 0;
  void ensure(size_t threads, size_t s_bytes, size_t e_bytes) {
    if (streams.size() >= threads && s_bytes <= scratch_bytes && e_bytes <= extra_bytes) return;
    threads = std::max(threads, streams.size());
    scratch_bytes = std::max(scratch_bytes, s_bytes);
    extra_bytes = std::max(extra_bytes, e_bytes);
    streams.clear();
    scratch.clear();
    extra.clear();
    for (size_t t = 0; t < threads; ++t) {
      streams.emplace_back(dnnl_ctx().engine);
      scratch.emplace_back(scratch_bytes);
      extra.emplace_back(extra_bytes);
    }
  }
};

namespace {

// Runs body(chunk, stream, scratch, extra) over `chunks` chunks on up to compute_threads() threads;
// each thread slot has its own stream and buffers of at least scratch_bytes and extra_bytes (kept in
// `slots`). Returns the first error.
template <class Body>
std::string run_grad_chunks(std::unique_ptr<GradSlots>& slots, size_t chunks, size_t scratch_bytes,
                            size_t extra_bytes, Body&& body) {
  const int threads = std::max(1, std::min<int>(compute_threads(), static_cast<int>(chunks)));
  if (!slots) slots = std::make_unique<GradSlots>();
  std::string err = guarded([&] { slots->ensure(static_cast<size_t>(threads), scratch_bytes, extra_bytes); });
  if (!err.empty()) return err;
  GradSlots& sl = *slots;
  std::vector<std::string> errors(static_cast<size_t>(threads));
  auto run = [&](size_t c, int slot) {
    const size_t k = static_cast<size_t>(slot);
    std::string e = guarded([&] {
      body(c, sl.streams[k], sl.scratch[k].data(), sl.extra[k].data());
      sl.streams[k].wait();
    });
    if (!e.empty()) errors[k] = std::move(e);
  };
  for_each_chunk(chunks, threads, run);
  for (const std::string& e : errors) {
    if (!e.empty()) return e;
  }
  return "";
}

}  // namespace

void set_compute_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(threads);
}
int compute_threads() { return omp_get_max_threads(); }

// ---- convolution ----

size_t ConvGeometry::out_h(size_t in_h) const {
  const size_t span = dilation_h * (kernel_h - 1) + 1, padded = in_h + pad_top + pad_bottom;
  return stride_h == 0 || padded < span ? 0 : (padded - span) / stride_h + 1;
}
size_t ConvGeometry::out_w(size_t in_w) const {
  const size_t span = dilation_w * (kernel_w - 1) + 1, padded = in_w + pad_left + pad_right;
  return stride_w == 0 || padded < span ? 0 : (padded - span) / stride_w + 1;
}
std::string ConvGeometry::validate() const {
  if (in_c == 0 || out_c == 0 || groups == 0) return "convolution with zero channels or groups";
  if (in_c % groups != 0 || out_c % groups != 0) return "channels not divisible by groups";
  if (kernel_h == 0 || kernel_w == 0 || stride_h == 0 || stride_w == 0 || dilation_h == 0 || dilation_w == 0)
    return "zero kernel, stride or dilation";
  return "";
}

namespace {

// The memory descriptors and geometry of a convolution of n x h x w NHWC inputs (weights: tag any
// for the primitives, OIHW / GOIHW for the caller's buffers).
struct ConvDescs {
  memory::desc src, dst, user_w, any_w, bias;
  memory::dims strides, dil, pl, pr;
};

ConvDescs conv_descs(const ConvGeometry& g, size_t n, size_t h, size_t w) {
  ConvDescs d;
  d.src = memory::desc({D(n), D(g.in_c), D(h), D(w)}, dt::f32, tag::nhwc);
  d.dst = memory::desc({D(n), D(g.out_c), D(g.out_h(h)), D(g.out_w(w))}, dt::f32, tag::nhwc);
  memory::dims wdims;
  if (g.groups > 1) {
    wdims = {D(g.groups), D(g.out_c / g.groups), D(g.in_c / g.groups), D(g.kernel_h), D(g.kernel_w)};
    d.user_w = memory::desc(wdims, dt::f32, tag::goihw);
  } else {
    wdims = {D(g.out_c), D(g.in_c), D(g.kernel_h), D(g.kernel_w)};
    d.user_w = memory::desc(wdims, dt::f32, tag::oihw);
  }
  d.any_w = memory::desc(wdims, dt::f32, tag::any);
  d.bias = memory::desc({D(g.out_c)}, dt::f32, tag::x);
  d.strides = {D(g.stride_h), D(g.stride_w)};
  d.dil = {D(g.dilation_h - 1), D(g.dilation_w - 1)};
  d.pl = {D(g.pad_top), D(g.pad_left)};
  d.pr = {D(g.pad_bottom), D(g.pad_right)};
  return d;
}

}  // namespace

struct ConvLayer::Prims {
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd;
  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_data bwd_data;
  memory::desc src_md, dst_md, user_w_md, bias_md;
  memory fwd_w, bwd_data_w;  // weights in the primitives' layouts
  // user layout -> fwd_w / bwd_data_w (created once: reorders are JIT code)
  dnnl::reorder to_fwd_w, to_bwd_data_w;
  memory zero_bias;
  std::vector<float> zero_bias_data;
};

ConvLayer::ConvLayer() = default;
ConvLayer::~ConvLayer() = default;
ConvLayer::ConvLayer(ConvLayer&&) noexcept = default;
ConvLayer& ConvLayer::operator=(ConvLayer&&) noexcept = default;

std::string ConvLayer::init(const ConvGeometry& g) {
  cache_.clear();
  g_ = g;
  return g.validate();
}

ConvLayer::Prims* ConvLayer::prims(size_t n, size_t h, size_t w, std::string* error) {
  const int threads = compute_threads();
  auto key = std::make_tuple(n, h, w, threads);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second.get();
  const size_t oh = g_.out_h(h), ow = g_.out_w(w);
  if (n == 0 || oh == 0 || ow == 0) {
    *error = "convolution: empty input or kernel larger than the padded input";
    return nullptr;
  }
  auto p = std::make_unique<Prims>();
  *error = guarded([&] {
    auto& eng = dnnl_ctx().engine;
    const ConvDescs d = conv_descs(g_, n, h, w);
    p->src_md = d.src;
    p->dst_md = d.dst;
    p->user_w_md = d.user_w;
    p->bias_md = d.bias;
    dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                       d.src, d.any_w, d.bias, d.dst, d.strides, d.dil, d.pl, d.pr);
    p->fwd_pd = dnnl::convolution_forward::primitive_desc(fd, eng);
    dnnl::convolution_backward_data::desc bd(dnnl::algorithm::convolution_direct, d.src, d.any_w, d.dst, d.strides,
                                             d.dil, d.pl, d.pr);
    p->bwd_data_pd = dnnl::convolution_backward_data::primitive_desc(bd, eng, p->fwd_pd);
    p->fwd = dnnl::convolution_forward(p->fwd_pd);
    p->bwd_data = dnnl::convolution_backward_data(p->bwd_data_pd);
    p->fwd_w = memory(p->fwd_pd.weights_desc(), eng);
    p->bwd_data_w = memory(p->bwd_data_pd.weights_desc(), eng);
    p->to_fwd_w = dnnl::reorder(dnnl::reorder::primitive_desc(eng, p->user_w_md, eng, p->fwd_w.get_desc()));
    p->to_bwd_data_w =
        dnnl::reorder(dnnl::reorder::primitive_desc(eng, p->user_w_md, eng, p->bwd_data_w.get_desc()));
    p->zero_bias_data.assign(g_.out_c, 0.0f);
    p->zero_bias = user_mem(p->bias_md, p->zero_bias_data.data());
  });
  if (!error->empty()) return nullptr;
  Prims* raw = p.get();
  cache_.emplace(key, std::move(p));
  return raw;
}

std::string ConvLayer::forward(size_t n, size_t h, size_t w, const float* x, const float* weight, const float* bias,
                               float* y) {
  std::string err;
  Prims* p = prims(n, h, w, &err);
  if (!p) return err;
  return guarded([&] {
    memory uw = user_mem(p->user_w_md, weight);
    p->to_fwd_w.execute(dnnl_ctx().stream, uw, p->fwd_w);
    memory src = user_mem(p->src_md, x), dst = user_mem(p->dst_md, y);
    memory b = bias ? user_mem(p->bias_md, bias) : p->zero_bias;
    p->fwd.execute(dnnl_ctx().stream,
                   {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p->fwd_w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, dst}});
  });
}

std::string ConvLayer::backward_data(size_t n, size_t h, size_t w, const float* dy, const float* weight, float* dx) {
  std::string err;
  Prims* p = prims(n, h, w, &err);
  if (!p) return err;
  return guarded([&] {
    memory uw = user_mem(p->user_w_md, weight);
    p->to_bwd_data_w.execute(dnnl_ctx().stream, uw, p->bwd_data_w);
    memory ddst = user_mem(p->dst_md, dy), dsrc = user_mem(p->src_md, dx);
    p->bwd_data.execute(dnnl_ctx().stream,
                        {{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, p->bwd_data_w}, {DNNL_ARG_DIFF_SRC, dsrc}});
  });
}

// One-thread backward-weights primitive for a chunk of n samples, with a user scratchpad (chunks
// run concurrently).
struct ConvLayer::GradPrims {
  dnnl::convolution_backward_weights bwd;
  memory::desc src_md, dst_md, diff_w_md, user_w_md, bias_md, scratch_md;
  dnnl::reorder to_user;
};

ConvLayer::GradPrims* ConvLayer::grad_prims(size_t n, size_t h, size_t w, std::string* error) {
  auto key = std::make_tuple(n, h, w);
  auto it = grad_cache_.find(key);
  if (it != grad_cache_.end()) return it->second.get();
  auto p = std::make_unique<GradPrims>();
  create_single_threaded([&] {
    *error = guarded([&] {
      auto& eng = dnnl_ctx().engine;
      const ConvDescs d = conv_descs(g_, n, h, w);
      p->src_md = d.src;
      p->dst_md = d.dst;
      p->user_w_md = d.user_w;
      p->bias_md = d.bias;
      dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                         d.src, d.any_w, d.bias, d.dst, d.strides, d.dil, d.pl, d.pr);
      dnnl::convolution_forward::primitive_desc fpd(fd, eng);
      dnnl::convolution_backward_weights::desc wd(dnnl::algorithm::convolution_direct, d.src, d.any_w, d.bias, d.dst,
                                                  d.strides, d.dil, d.pl, d.pr);
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      dnnl::convolution_backward_weights::primitive_desc wpd(wd, attr, eng, fpd);
      p->bwd = dnnl::convolution_backward_weights(wpd);
      p->diff_w_md = wpd.diff_weights_desc();
      p->scratch_md = wpd.scratchpad_desc();
      p->to_user = dnnl::reorder(dnnl::reorder::primitive_desc(eng, p->diff_w_md, eng, p->user_w_md));
    });
  });
  if (!error->empty()) return nullptr;
  GradPrims* raw = p.get();
  grad_cache_.emplace(key, std::move(p));
  return raw;
}

std::string ConvLayer::backward_weights(size_t n, size_t h, size_t w, const float* x, const float* dy, float* dweight,
                                        float* dbias) {
  const size_t oh = g_.out_h(h), ow = g_.out_w(w);
  if (n == 0 || oh == 0 || ow == 0) return "convolution: empty input or kernel larger than the padded input";
  const size_t chunks = (n + kGradChunk - 1) / kGradChunk;
  std::string err;
  GradPrims* full = grad_prims(kGradChunk, h, w, &err);
  GradPrims* tail = n % kGradChunk ? grad_prims(n % kGradChunk, h, w, &err) : full;
  if (!full || !tail) return err;
  const size_t wsize = g_.weight_elements(), xs = h * w * g_.in_c, ys = oh * ow * g_.out_c;
  partial_w_.resize(chunks * wsize);
  partial_b_.resize(chunks * g_.out_c);
  auto& eng = dnnl_ctx().engine;
  const size_t scratch = std::max(full->scratch_md.get_size(), tail->scratch_md.get_size());
  const size_t diff_w = std::max(full->diff_w_md.get_size(), tail->diff_w_md.get_size());
  err = run_grad_chunks(grad_slots_, chunks, scratch, diff_w, [&](size_t c, dnnl::stream& st, void* sp, void* dw_buf) {
    const size_t s0 = c * kGradChunk, nc = std::min(kGradChunk, n - s0);
    GradPrims* gp = nc == kGradChunk ? full : tail;
    memory dw(gp->diff_w_md, eng, dw_buf);  // the primitive's layout, then the caller's
    gp->bwd.execute(st, {{DNNL_ARG_SRC, memory(gp->src_md, eng, const_cast<float*>(x + s0 * xs))},
                         {DNNL_ARG_DIFF_DST, memory(gp->dst_md, eng, const_cast<float*>(dy + s0 * ys))},
                         {DNNL_ARG_DIFF_WEIGHTS, dw},
                         {DNNL_ARG_DIFF_BIAS, memory(gp->bias_md, eng, partial_b_.data() + c * g_.out_c)},
                         {DNNL_ARG_SCRATCHPAD, memory(gp->scratch_md, eng, sp)}});
    memory uw(gp->user_w_md, eng, partial_w_.data() + c * wsize);
    gp->to_user.execute(st, dw, uw);
  });
  if (!err.empty()) return err;
  sum_chunks(partial_w_, chunks, wsize, dweight);
  if (dbias) sum_chunks(partial_b_, chunks, g_.out_c, dbias);
  return "";
}

// ---- inner product ----

struct InnerProductLayer::Prims {
  dnnl::inner_product_forward fwd;
  dnnl::inner_product_backward_data bwd_data;
  memory::desc src_md, dst_md, w_md, bias_md;
  std::vector<float> zero_bias;
};

InnerProductLayer::InnerProductLayer() = default;
InnerProductLayer::~InnerProductLayer() = default;
InnerProductLayer::InnerProductLayer(InnerProductLayer&&) noexcept = default;
InnerProductLayer& InnerProductLayer::operator=(InnerProductLayer&&) noexcept = default;

std::string InnerProductLayer::init(size_t k, size_t n_out) {
  cache_.clear();
  k_ = k;
  n_ = n_out;
  return k == 0 || n_out == 0 ? "inner product with zero inputs or outputs" : "";
}

InnerProductLayer::Prims* InnerProductLayer::prims(size_t m, std::string* error) {
  const int threads = compute_threads();
  auto key = std::make_pair(m, threads);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second.get();
  if (m == 0) {
    *error = "inner product: empty batch";
    return nullptr;
  }
  auto p = std::make_unique<Prims>();
  *error = guarded([&] {
    auto& eng = dnnl_ctx().engine;
    p->src_md = memory::desc({D(m), D(k_)}, dt::f32, tag::nc);
    p->dst_md = memory::desc({D(m), D(n_)}, dt::f32, tag::nc);
    p->w_md = memory::desc({D(n_), D(k_)}, dt::f32, tag::oi);
    p->bias_md = memory::desc({D(n_)}, dt::f32, tag::x);
    dnnl::inner_product_forward::desc fd(dnnl::prop_kind::forward_training, p->src_md, p->w_md, p->bias_md, p->dst_md);
    dnnl::inner_product_forward::primitive_desc fpd(fd, eng);
    dnnl::inner_product_backward_data::desc bd(p->src_md, p->w_md, p->dst_md);
    p->fwd = dnnl::inner_product_forward(fpd);
    p->bwd_data = dnnl::inner_product_backward_data(dnnl::inner_product_backward_data::primitive_desc(bd, eng, fpd));
    p->zero_bias.assign(n_, 0.0f);
  });
  if (!error->empty()) return nullptr;
  Prims* raw = p.get();
  cache_.emplace(key, std::move(p));
  return raw;
}

std::string InnerProductLayer::forward(size_t m, const float* x, const float* weight, const float* bias, float* y) {
  std::string err;
  Prims* p = prims(m, &err);
  if (!p) return err;
  return guarded([&] {
    p->fwd.execute(dnnl_ctx().stream, {{DNNL_ARG_SRC, user_mem(p->src_md, x)},
                                       {DNNL_ARG_WEIGHTS, user_mem(p->w_md, weight)},
                                       {DNNL_ARG_BIAS, user_mem(p->bias_md, bias ? bias : p->zero_bias.data())},
                                       {DNNL_ARG_DST, user_mem(p->dst_md, y)}});
  });
}

std::string InnerProductLayer::backward_data(size_t m, const float* dy, const float* weight, float* dx) {
  std::string err;
  Prims* p = prims(m, &err);
  if (!p) return err;
  return guarded([&] {
    p->bwd_data.execute(dnnl_ctx().stream, {{DNNL_ARG_DIFF_DST, user_mem(p->dst_md, dy)},
                                            {DNNL_ARG_WEIGHTS, user_mem(p->w_md, weight)},
                                            {DNNL_ARG_DIFF_SRC, user_mem(p->src_md, dx)}});
  });
}

struct InnerProductLayer::GradPrims {
  dnnl::inner_product_backward_weights bwd;
  memory::desc src_md, dst_md, w_md, bias_md, scratch_md;
};

InnerProductLayer::GradPrims* InnerProductLayer::grad_prims(size_t m, std::string* error) {
  auto it = grad_cache_.find(m);
  if (it != grad_cache_.end()) return it->second.get();
  auto p = std::make_unique<GradPrims>();
  create_single_threaded([&] {
    *error = guarded([&] {
      auto& eng = dnnl_ctx().engine;
      p->src_md = memory::desc({D(m), D(k_)}, dt::f32, tag::nc);
      p->dst_md = memory::desc({D(m), D(n_)}, dt::f32, tag::nc);
      p->w_md = memory::desc({D(n_), D(k_)}, dt::f32, tag::oi);
      p->bias_md = memory::desc({D(n_)}, dt::f32, tag::x);
      dnnl::inner_product_forward::desc fd(dnnl::prop_kind::forward_training, p->src_md, p->w_md, p->bias_md,
                                           p->dst_md);
      dnnl::inner_product_forward::primitive_desc fpd(fd, eng);
      dnnl::inner_product_backward_weights::desc wd(p->src_md, p->w_md, p->bias_md, p->dst_md);
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      dnnl::inner_product_backward_weights::primitive_desc wpd(wd, attr, eng, fpd);
      p->bwd = dnnl::inner_product_backward_weights(wpd);
      p->scratch_md = wpd.scratchpad_desc();
    });
  });
  if (!error->empty()) return nullptr;
  GradPrims* raw = p.get();
  grad_cache_.emplace(m, std::move(p));
  return raw;
}

std::string InnerProductLayer::backward_weights(size_t m, const float* x, const float* dy, float* dweight,
                                                float* dbias) {
  if (m == 0) return "inner product: empty batch";
  const size_t chunks = (m + kGradChunk - 1) / kGradChunk;
  std::string err;
  GradPrims* full = grad_prims(kGradChunk, &err);
  GradPrims* tail = m % kGradChunk ? grad_prims(m % kGradChunk, &err) : full;
  if (!full || !tail) return err;
  const size_t wsize = n_ * k_;
  partial_w_.resize(chunks * wsize);
  partial_b_.resize(chunks * n_);
  auto& eng = dnnl_ctx().engine;
  const size_t scratch = std::max(full->scratch_md.get_size(), tail->scratch_md.get_size());
  err = run_grad_chunks(grad_slots_, chunks, scratch, 0, [&](size_t c, dnnl::stream& st, void* sp, void*) {
    const size_t s0 = c * kGradChunk, nc = std::min(kGradChunk, m - s0);
    GradPrims* gp = nc == kGradChunk ? full : tail;
    gp->bwd.execute(st, {{DNNL_ARG_SRC, memory(gp->src_md, eng, const_cast<float*>(x + s0 * k_))},
                         {DNNL_ARG_DIFF_DST, memory(gp->dst_md, eng, const_cast<float*>(dy + s0 * n_))},
                         {DNNL_ARG_DIFF_WEIGHTS, memory(gp->w_md, eng, partial_w_.data() + c * wsize)},
                         {DNNL_ARG_DIFF_BIAS, memory(gp->bias_md, eng, partial_b_.data() + c * n_)},
                         {DNNL_ARG_SCRATCHPAD, memory(gp->scratch_md, eng, sp)}});
  });
  if (!err.empty()) return err;
  sum_chunks(partial_w_, chunks, wsize, dweight);
  if (dbias) sum_chunks(partial_b_, chunks, n_, dbias);
  return "";
}

// ---- eltwise ----

struct EltwiseLayer::Prims {
  dnnl::eltwise_forward fwd;
  dnnl::eltwise_backward bwd;
  memory::desc md;
};

EltwiseLayer::EltwiseLayer() = default;
EltwiseLayer::~EltwiseLayer() = default;
EltwiseLayer::EltwiseLayer(EltwiseLayer&&) noexcept = default;
EltwiseLayer& EltwiseLayer::operator=(EltwiseLayer&&) noexcept = default;

void EltwiseLayer::init(EltwiseKind kind, float lo, float hi) {
  cache_.clear();
  kind_ = kind;
  lo_ = lo;
  hi_ = hi;
}

EltwiseLayer::Prims* EltwiseLayer::prims(size_t count, std::string* error) {
  const int threads = compute_threads();
  auto key = std::make_pair(count, threads);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second.get();
  auto p = std::make_unique<Prims>();
  *error = guarded([&] {
    auto& eng = dnnl_ctx().engine;
    p->md = memory::desc({D(count)}, dt::f32, tag::x);
    dnnl::algorithm alg = dnnl::algorithm::eltwise_relu;
    float a = 0.0f, b = 0.0f;
    if (kind_ == EltwiseKind::clip) {
      alg = dnnl::algorithm::eltwise_clip_v2;
      a = lo_;
      b = hi_;
    } else if (kind_ == EltwiseKind::hardswish) {
      alg = dnnl::algorithm::eltwise_hardswish;
    }
    dnnl::eltwise_forward::desc fd(dnnl::prop_kind::forward_training, alg, p->md, a, b);
    dnnl::eltwise_forward::primitive_desc fpd(fd, eng);
    dnnl::eltwise_backward::desc bd(alg, p->md, p->md, a, b);
    p->fwd = dnnl::eltwise_forward(fpd);
    p->bwd = dnnl::eltwise_backward(dnnl::eltwise_backward::primitive_desc(bd, eng, fpd));
  });
  if (!error->empty()) return nullptr;
  Prims* raw = p.get();
  cache_.emplace(key, std::move(p));
  return raw;
}

std::string EltwiseLayer::forward(size_t count, const float* x, float* y) {
  if (count == 0) return "";
  std::string err;
  Prims* p = prims(count, &err);
  if (!p) return err;
  return guarded([&] {
    p->fwd.execute(dnnl_ctx().stream, {{DNNL_ARG_SRC, user_mem(p->md, x)}, {DNNL_ARG_DST, user_mem(p->md, y)}});
  });
}

std::string EltwiseLayer::backward(size_t count, const float* x, const float* dy, float* dx) {
  if (count == 0) return "";
  std::string err;
  Prims* p = prims(count, &err);
  if (!p) return err;
  return guarded([&] {
    p->bwd.execute(dnnl_ctx().stream, {{DNNL_ARG_SRC, user_mem(p->md, x)},
                                       {DNNL_ARG_DIFF_DST, user_mem(p->md, dy)},
                                       {DNNL_ARG_DIFF_SRC, user_mem(p->md, dx)}});
  });
}

// ---- pooling ----

size_t PoolGeometry::out_h(size_t in_h) const {
  const size_t padded = in_h + pad_top + pad_bottom;
  return stride_h == 0 || kernel_h == 0 || padded < kernel_h ? 0 : (padded - kernel_h) / stride_h + 1;
}
size_t PoolGeometry::out_w(size_t in_w) const {
  const size_t padded = in_w + pad_left + pad_right;
  return stride_w == 0 || kernel_w == 0 || padded < kernel_w ? 0 : (padded - kernel_w) / stride_w + 1;
}

struct PoolLayer::Prims {
  dnnl::pooling_forward fwd;
  dnnl::pooling_backward bwd;
  memory::desc src_md, dst_md;
  memory workspace;
  bool has_workspace = false;
};

PoolLayer::PoolLayer() = default;
PoolLayer::~PoolLayer() = default;
PoolLayer::PoolLayer(PoolLayer&&) noexcept = default;
PoolLayer& PoolLayer::operator=(PoolLayer&&) noexcept = default;

std::string PoolLayer::init(const PoolGeometry& g) {
  cache_.clear();
  last_ = nullptr;
  g_ = g;
  if (g.channels == 0 || g.kernel_h == 0 || g.kernel_w == 0 || g.stride_h == 0 || g.stride_w == 0)
    return "pooling with zero channels, kernel or stride";
  return "";
}

PoolLayer::Prims* PoolLayer::prims(size_t n, size_t h, size_t w, std::string* error) {
  const int threads = compute_threads();
  auto key = std::make_tuple(n, h, w, threads);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second.get();
  const size_t oh = g_.out_h(h), ow = g_.out_w(w);
  if (n == 0 || oh == 0 || ow == 0) {
    *error = "pooling: empty input or window larger than the padded input";
    return nullptr;
  }
  auto p = std::make_unique<Prims>();
  *error = guarded([&] {
    auto& eng = dnnl_ctx().engine;
    p->src_md = memory::desc({D(n), D(g_.channels), D(h), D(w)}, dt::f32, tag::nhwc);
    p->dst_md = memory::desc({D(n), D(g_.channels), D(oh), D(ow)}, dt::f32, tag::nhwc);
    const dnnl::algorithm alg = g_.kind == PoolKind::max               ? dnnl::algorithm::pooling_max
                                : g_.kind == PoolKind::avg_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                                                       : dnnl::algorithm::pooling_avg_exclude_padding;
    const memory::dims strides{D(g_.stride_h), D(g_.stride_w)}, kernel{D(g_.kernel_h), D(g_.kernel_w)};
    const memory::dims pl{D(g_.pad_top), D(g_.pad_left)}, pr{D(g_.pad_bottom), D(g_.pad_right)};
    dnnl::pooling_forward::desc fd(dnnl::prop_kind::forward_training, alg, p->src_md, p->dst_md, strides, kernel, pl,
                                   pr);
    dnnl::pooling_forward::primitive_desc fpd(fd, eng);
    dnnl::pooling_backward::desc bd(alg, p->src_md, p->dst_md, strides, kernel, pl, pr);
    p->fwd = dnnl::pooling_forward(fpd);
    p->bwd = dnnl::pooling_backward(dnnl::pooling_backward::primitive_desc(bd, eng, fpd));
    if (fpd.workspace_desc().get_size() > 0) {
      p->workspace = memory(fpd.workspace_desc(), eng);
      p->has_workspace = true;
    }
  });
  if (!error->empty()) return nullptr;
  Prims* raw = p.get();
  cache_.emplace(key, std::move(p));
  return raw;
}

std::string PoolLayer::forward(size_t n, size_t h, size_t w, const float* x, float* y) {
  std::string err;
  Prims* p = prims(n, h, w, &err);
  if (!p) return err;
  last_ = p;
  return guarded([&] {
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, user_mem(p->src_md, x)}, {DNNL_ARG_DST, user_mem(p->dst_md, y)}};
    if (p->has_workspace) args[DNNL_ARG_WORKSPACE] = p->workspace;
    p->fwd.execute(dnnl_ctx().stream, args);
  });
}

std::string PoolLayer::backward(size_t n, size_t h, size_t w, const float* dy, float* dx) {
  std::string err;
  Prims* p = prims(n, h, w, &err);
  if (!p) return err;
  if (p->has_workspace && p != last_) return "max pooling backward without its forward";
  return guarded([&] {
    std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, user_mem(p->dst_md, dy)},
                                         {DNNL_ARG_DIFF_SRC, user_mem(p->src_md, dx)}};
    if (p->has_workspace) args[DNNL_ARG_WORKSPACE] = p->workspace;
    p->bwd.execute(dnnl_ctx().stream, args);
  });
}

}  // namespace kiln::calib::recon
