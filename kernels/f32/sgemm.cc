// sgemm: packing of B, the blocked driver (BLIS-style loops: column block, k block with A packed
// per thread, micro-panels of B reused from L1 across the row block), and the public entry points.
#include <cstring>
#include <limits>
#include <vector>

#include "f32/gemm_driver.h"
#include "kiln/kernels/f32/gemm.h"

namespace kiln::kernels::f32 {
namespace detail {
namespace {

// The k block: a KC x NR slice of B (about 64 KiB, L1 + the L2 prefetch stream) while the row tiles
// pass over it. Measured on ResNet-18's convolutions (AVX-512, NR = 64): KC 256 beats 128 by 1-2%
// (fewer passes over C); AVX2 (NR = 16) and NEON stay at the 512 cap.
size_t k_block(size_t nr) {
  const size_t kc = 16384 / nr;
  return kc < 64 ? 64 : (kc > 512 ? 512 : kc);
}
constexpr size_t kMcRows = 144;  // row block (rounded to MR): the packed A block lives in L2
constexpr size_t kNc = 512;    // column block

size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }
size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

// Whether the activation is a clamp the micro-kernel applies itself.
bool is_clamp(const Activation& act, float* lo, float* hi) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  switch (act.op) {
    case UnaryOp::identity: *lo = -inf; *hi = inf; return true;
    case UnaryOp::relu: *lo = 0.0f; *hi = inf; return true;
    case UnaryOp::clip: *lo = act.a; *hi = act.b; return true;
    default: *lo = -inf; *hi = inf; return false;
  }
}

std::vector<float>& thread_buffer() {
  thread_local std::vector<float> buf;
  return buf;
}

std::vector<float>& thread_zeros() {
  thread_local std::vector<float> zeros;
  return zeros;
}

std::vector<const float*>& thread_pointers() {
  thread_local std::vector<const float*> ptrs;
  return ptrs;
}

}  // namespace

void APacker::pack(size_t m0, size_t rows, size_t k0, size_t kc, size_t k, size_t mr, float* dst) const {
  const size_t t = taps();
  const size_t run = t == 0 ? 0 : k / t;
  if (run == 0) return;
  std::vector<float>& zero = thread_zeros();
  if (zero.size() < run) zero.assign(run, 0.0f);
  std::vector<const float*> ptrs(t * mr);
  indirect(m0, rows, mr, zero.data(), ptrs.data());
  for (size_t kk = 0; kk < kc; ++kk) {
    const size_t tap = (k0 + kk) / run, off = (k0 + kk) % run;
    for (size_t i = 0; i < mr; ++i) dst[kk * mr + i] = ptrs[tap * mr + i][off];
  }
}

void MatrixAPacker::pack(size_t m0, size_t rows, size_t k0, size_t kc, size_t /*k*/, size_t mr, float* dst) const {
  if (transposed_) {
    for (size_t k = 0; k < kc; ++k) {
      const float* src = a_ + (k0 + k) * lda_ + m0;
      float* d = dst + k * mr;
      size_t i = 0;
      for (; i < rows; ++i) d[i] = src[i];
      for (; i < mr; ++i) d[i] = 0.0f;
    }
    return;
  }
  for (size_t i = 0; i < rows; ++i) {
    const float* src = a_ + (m0 + i) * lda_ + k0;
    for (size_t k = 0; k < kc; ++k) dst[k * mr + i] = src[k];
  }
  for (size_t i = rows; i < mr; ++i) {
    for (size_t k = 0; k < kc; ++k) dst[k * mr + i] = 0.0f;
  }
}

void gemm_run(size_t m, const APacker& a, const SgemmPackedB& b, const GemmOutput& out, TaskRunner* runner,
              size_t min_run) {
  const size_t n = b.n, k = b.k;
  if (m == 0 || n == 0) return;
  const F32Kernels& kern = kernels_for(b.isa);
  const size_t mr = kern.mr, nr = kern.nr;
  // The packed B was built by sgemm_pack_b for this table, so the widths always agree.
  if (nr != b.nr) return;

  float lo, hi;
  const bool residual_in_place = out.residual != nullptr && out.residual == out.c && out.ldr == out.ldc;
  // A separate residual is copied into C before the block's first k pass, which then starts from C:
  // the residual costs one copy and the clamp stays in the micro-kernel (no pass over C after it).
  // Only C += A * B + residual (never used) keeps the old order: add the residual after the GEMM.
  const bool residual_copy = out.residual != nullptr && !residual_in_place && !out.accumulate;
  const bool residual_after = out.residual != nullptr && !residual_in_place && out.accumulate;
  const bool clamp_in_kernel = is_clamp(out.act, &lo, &hi) && !residual_after;
  const bool act_after = !clamp_in_kernel && out.act.op != UnaryOp::identity;
  const float bounds[2] = {lo, hi};
  const bool load_c_first = out.accumulate || out.residual != nullptr;
  // Rows [m0, m0 + rows), columns [n0, n0 + cols) of the residual into C.
  auto copy_residual = [&](size_t m0, size_t rows, size_t n0, size_t cols) {
    if (!residual_copy) return;
    for (size_t i = m0; i < m0 + rows; ++i) {
      std::memcpy(out.c + i * out.ldc + n0, out.residual + i * out.ldr + n0, cols * sizeof(float));
    }
  };

  // Bias padded to whole panels, so edge tiles read nr valid values.
  std::vector<float> bias_padded;
  if (out.bias) {
    bias_padded.assign(round_up(n, nr), 0.0f);
    std::memcpy(bias_padded.data(), out.bias, n * sizeof(float));
  }
  const float* bias = out.bias ? bias_padded.data() : nullptr;

  size_t mc = round_up(min_size(kMcRows, m), mr);
  const size_t nc = min_size(kNc, round_up(n, nr));
  const size_t n_blocks = (n + nc - 1) / nc;
  const int threads = runner ? runner->threads() : 1;
  // Enough tiles for every thread: shrink the row block (never below one micro-tile).
  while (threads > 1 && mc > mr && ((m + mc - 1) / mc) * n_blocks < static_cast<size_t>(3 * threads)) {
    mc = round_up(mc / 2, mr);
  }
  const size_t m_blocks = (m + mc - 1) / mc;
  const size_t kKc = k_block(nr);
  const size_t k_blocks = k == 0 ? 1 : (k + kKc - 1) / kKc;

  const size_t taps = a.taps();
  if (taps > 0 && k > 0 && k % taps == 0 && k / taps >= min_run) {
    // In-place A (igemm). K is walked in chunks of about kKc values (whole taps when a tap's run is
    // short, slices of one tap when it is long), so that C is revisited a few times at most while
    // each kernel call's B slice fits L1; A is never copied.
    const size_t imr = kern.imr, run = k / taps;
    // A K that is at most half a block longer than one block is not worth a second pass over C.
    const size_t taps_per_chunk = run >= kKc ? 1 : (k <= kKc + kKc / 2 ? taps : kKc / run);
    const size_t slices = run >= kKc ? (run + kKc - 1) / kKc : 1;  // per tap, when one tap is long
    const size_t slice = (run + slices - 1) / slices;
    const size_t chunks = run >= kKc ? taps * slices : (taps + taps_per_chunk - 1) / taps_per_chunk;
    size_t imc = round_up(min_size(kMcRows, m), imr);
    while (threads > 1 && imc > imr && ((m + imc - 1) / imc) * n_blocks < static_cast<size_t>(3 * threads)) {
      imc = round_up(imc / 2, imr);
    }
    const size_t im_blocks = (m + imc - 1) / imc;
    parallel_for(runner, im_blocks * n_blocks, [&](size_t t) {
      const size_t m0 = (t / n_blocks) * imc, n0 = (t % n_blocks) * nc;
      const size_t mcur = min_size(imc, m - m0), ncur = min_size(nc, n - n0);
      const size_t tiles = (mcur + imr - 1) / imr;
      copy_residual(m0, mcur, n0, ncur);
      std::vector<float>& zero = thread_zeros();
      if (zero.size() < run) zero.assign(run, 0.0f);
      std::vector<const float*>& ptrs = thread_pointers();
      if (ptrs.size() < tiles * taps * imr) ptrs.resize(tiles * taps * imr);
      // Each tile's pointers are laid out for its own row count (the last tile may be short).
      for (size_t ti = 0; ti < tiles; ++ti) {
        const size_t rows = min_size(imr, mcur - ti * imr);
        a.indirect(m0 + ti * imr, rows, rows, zero.data(), ptrs.data() + ti * taps * imr);
      }
      float tile[16 * 64];
      for (size_t ch = 0; ch < chunks; ++ch) {
        // This chunk: taps [t0, t0 + ks), each read from a_offset for kc values; K rows k_first...
        size_t t0, ks, kc, a_offset;
        if (run >= kKc) {
          t0 = ch / slices;
          ks = 1;
          a_offset = (ch % slices) * slice;
          kc = min_size(slice, run - a_offset);
        } else {
          t0 = ch * taps_per_chunk;
          ks = min_size(taps_per_chunk, taps - t0);
          a_offset = 0;
          kc = run;
        }
        const size_t k_first = t0 * run + a_offset;
        const bool first = ch == 0, last = ch + 1 == chunks;
        const bool load_c = !first || load_c_first;
        const float* tclamp = last && clamp_in_kernel && out.act.op != UnaryOp::identity ? bounds : nullptr;
        // Row tile outer: its A slice (a few KiB) stays in L1 while the B slices stream past it
        // (one sequential stream, which the hardware prefetcher follows well).
        for (size_t ti = 0; ti < tiles; ++ti) {
          const size_t row = m0 + ti * imr, rows = min_size(imr, mcur - ti * imr);
          for (size_t jr = 0; jr < ncur; jr += nr) {
            const size_t col = n0 + jr, cols = min_size(nr, ncur - jr);
            const float* bpanel = b.panels.data() + (col / nr) * k * nr + k_first * nr;
            const float* bias_tile = first && bias ? bias + col : nullptr;
            float* cptr = out.c + row * out.ldc + col;
            const float* const* ap = ptrs.data() + ti * taps * imr + t0 * rows;
            const IgemmUkernelFn igemm = rows == imr ? kern.igemm : kern.igemm_rows[rows];
            if (cols == nr) {
              igemm(ks, kc, ap, a_offset, bpanel, cptr, out.ldc, bias_tile, load_c, tclamp);
            } else {
              if (load_c) {
                for (size_t i = 0; i < rows; ++i) std::memcpy(tile + i * nr, cptr + i * out.ldc, cols * sizeof(float));
              }
              igemm(ks, kc, ap, a_offset, bpanel, tile, nr, bias_tile, load_c, tclamp);
              for (size_t i = 0; i < rows; ++i) std::memcpy(cptr + i * out.ldc, tile + i * nr, cols * sizeof(float));
            }
            if (last && (residual_after || act_after)) {
              for (size_t i = 0; i < rows; ++i) {
                float* crow = cptr + i * out.ldc;
                if (residual_after) kern.binary(BinaryOp::add, crow, out.residual + (row + i) * out.ldr + col, crow, cols);
                if (act_after) kern.unary(out.act, crow, crow, cols);
              }
            }
          }
        }
      }
    });
    return;
  }

  parallel_for(runner, m_blocks * n_blocks, [&](size_t t) {
    const size_t m0 = (t / n_blocks) * mc, n0 = (t % n_blocks) * nc;
    const size_t mcur = min_size(mc, m - m0), ncur = min_size(nc, n - n0);
    std::vector<float>& abuf = thread_buffer();
    const size_t need = round_up(mcur, mr) * min_size(kKc, k == 0 ? 1 : k);
    if (abuf.size() < need) abuf.resize(need);
    float tile[16 * 64];  // mr * nr of every kernel table fits
    copy_residual(m0, mcur, n0, ncur);
    for (size_t kb = 0; kb < k_blocks; ++kb) {
      const size_t k0 = kb * kKc, kc = min_size(kKc, k - k0);
      const bool first = kb == 0, last = kb + 1 == k_blocks;
      for (size_t ir = 0; ir < mcur; ir += mr) a.pack(m0 + ir, min_size(mr, mcur - ir), k0, kc, k, mr, abuf.data() + ir * kc);
      for (size_t jr = 0; jr < ncur; jr += nr) {
        const size_t col = n0 + jr, cols = min_size(nr, ncur - jr);
        const float* bpanel = b.panels.data() + (col / nr) * k * nr + k0 * nr;
        const float* bias_tile = first && bias ? bias + col : nullptr;
        const bool load_c = !first || load_c_first;
        const float* tclamp = last && clamp_in_kernel && out.act.op != UnaryOp::identity ? bounds : nullptr;
        for (size_t ir = 0; ir < mcur; ir += mr) {
          const size_t row = m0 + ir, rows = min_size(mr, mcur - ir);
          float* cptr = out.c + row * out.ldc + col;
          const float* apanel = abuf.data() + ir * kc;
          if (rows == mr && cols == nr) {
            kern.gemm(kc, apanel, bpanel, cptr, out.ldc, bias_tile, load_c, tclamp);
          } else {
            if (load_c) {
              for (size_t i = 0; i < rows; ++i) std::memcpy(tile + i * nr, cptr + i * out.ldc, cols * sizeof(float));
            }
            kern.gemm(kc, apanel, bpanel, tile, nr, bias_tile, load_c, tclamp);
            for (size_t i = 0; i < rows; ++i) std::memcpy(cptr + i * out.ldc, tile + i * nr, cols * sizeof(float));
          }
          if (last && (residual_after || act_after)) {
            for (size_t i = 0; i < rows; ++i) {
              float* crow = cptr + i * out.ldc;
              if (residual_after) kern.binary(BinaryOp::add, crow, out.residual + (row + i) * out.ldr + col, crow, cols);
              if (act_after) kern.unary(out.act, crow, crow, cols);
            }
          }
        }
      }
    }
  });
}

}  // namespace detail

std::string sgemm_pack_b(size_t k, size_t n, const float* b, size_t ldb, bool b_transposed, SgemmPackedB* out, Isa isa,
                         float alpha) {
  if (out == nullptr) return "sgemm_pack_b: no output";
  if (b == nullptr && k * n != 0) return "sgemm_pack_b: no B matrix";
  if (ldb < (b_transposed ? k : n)) return "sgemm_pack_b: ldb is smaller than a row of B";
  const detail::F32Kernels& kern = detail::kernels_for(isa);
  const size_t nr = kern.nr;
  const size_t panels = (n + nr - 1) / nr;
  out->isa = kern.isa;
  out->k = k;
  out->n = n;
  out->nr = nr;
  out->panels.assign(panels * k * nr, 0.0f);
  for (size_t p = 0; p < panels; ++p) {
    float* dst = out->panels.data() + p * k * nr;
    const size_t cols = detail::min_size(nr, n - p * nr);
    for (size_t kk = 0; kk < k; ++kk) {
      for (size_t j = 0; j < cols; ++j) {
        const size_t col = p * nr + j;
        const float v = b_transposed ? b[col * ldb + kk] : b[kk * ldb + col];
        dst[kk * nr + j] = alpha == 1.0f ? v : alpha * v;
      }
    }
  }
  return "";
}

void sgemm_packed(size_t m, const float* a, size_t lda, bool a_transposed, const SgemmPackedB& b, const float* bias,
                  float* c, size_t ldc, const Activation& act, TaskRunner* runner, bool accumulate) {
  if (b.empty()) return;
  const detail::MatrixAPacker packer(a, lda, a_transposed);
  detail::GemmOutput out;
  out.c = c;
  out.ldc = ldc;
  out.bias = bias;
  out.act = act;
  out.accumulate = accumulate;
  detail::gemm_run(m, packer, b, out, runner);
}

void sgemm(size_t m, size_t n, size_t k, const float* a, size_t lda, bool a_transposed, const float* b, size_t ldb,
           bool b_transposed, const float* bias, float* c, size_t ldc, const Activation& act, const Exec& exec) {
  SgemmPackedB packed;
  if (!sgemm_pack_b(k, n, b, ldb, b_transposed, &packed, exec.isa).empty()) return;
  sgemm_packed(m, a, lda, a_transposed, packed, bias, c, ldc, act, exec.runner);
}

void sgemm_batched(size_t batch, size_t m, size_t n, size_t k, const float* a, size_t stride_a, bool a_transposed,
                   const float* b, size_t stride_b, bool b_transposed, float* c, size_t stride_c, const Exec& exec) {
  if (batch == 0) return;
  const size_t lda = a_transposed ? m : k;
  const size_t ldb = b_transposed ? k : n;
  SgemmPackedB shared;
  if (stride_b == 0 && !sgemm_pack_b(k, n, b, ldb, b_transposed, &shared, exec.isa).empty()) return;
  const int threads = exec.runner ? exec.runner->threads() : 1;
  const bool split_batch = threads > 1 && batch >= static_cast<size_t>(threads);
  // Many small problems: one per task. Few large ones: each threaded inside.
  TaskRunner* inner = split_batch ? nullptr : exec.runner;
  auto one = [&](size_t i) {
    const float* ai = a + i * stride_a;
    float* ci = c + i * stride_c;
    if (stride_b == 0) {
      sgemm_packed(m, ai, lda, a_transposed, shared, nullptr, ci, n, {}, inner);
    } else {
      SgemmPackedB packed;
      if (!sgemm_pack_b(k, n, b + i * stride_b, ldb, b_transposed, &packed, exec.isa).empty()) return;
      sgemm_packed(m, ai, lda, a_transposed, packed, nullptr, ci, n, {}, inner);
    }
  };
  if (split_batch) {
    parallel_for(exec.runner, batch, one);
  } else {
    for (size_t i = 0; i < batch; ++i) one(i);
  }
}

}  // namespace kiln::kernels::f32
