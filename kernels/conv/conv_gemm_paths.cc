#include "conv_gemm_paths.h"

#include <algorithm>
#include <cstring>

#include "gemm/wide_scratch.h"
#include "kiln/kernels/indirection.h"

namespace kiln::kernels::conv_detail {
namespace {

size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

size_t threads_of(TaskRunner* runner) {
  return runner != nullptr ? static_cast<size_t>(std::max(1, runner->threads())) : 1;
}

// Runs the igemm micro-kernel over every group, column block and tile of mr pixels. The
// indirection buffer is shared by all groups (a_offset moves each to its channels). Tasks split
// the tiles; inside a task the column blocks are the outer loop so one packed block stays in cache.
// Configs with a widened-B path (AVX2 int4) widen each block once per task when the task has
// several tiles, and run the widened-B igemm on it.
void igemm_over_tiles(const PackedConv& cv, const uint8_t* const* indirection, uint8_t* output,
                      const RequantParams& p, TaskRunner* runner) {
  const ConvShape& s = cv.shape;
  const GemmConfig& cfg = *cv.gemm;
  const size_t mr = cfg.mr, nr = cfg.nr;
  const size_t pixels = static_cast<size_t>(s.batch) * s.out_h() * s.out_w();
  const size_t tiles = ceil_div(pixels, mr);
  const size_t groups = static_cast<size_t>(s.groups), goc = static_cast<size_t>(s.group_out_c());
  const size_t gic = static_cast<size_t>(s.group_in_c()), oc = static_cast<size_t>(s.out_c);
  const size_t blocks = ceil_div(goc, nr);
  const size_t block_bytes = packed_gemm_block_bytes(cfg, cv.ks, cv.kc);
  const size_t threads = threads_of(runner);
  const size_t tile_chunks = threads == 1 ? 1 : std::min(tiles, ceil_div(4 * threads, groups));
  const size_t tiles_per_chunk = ceil_div(tiles, tile_chunks);
  const GemmEpilogue ep = make_gemm_epilogue(p);
  const bool residual = p.residual != nullptr;
  const size_t wide_k = cv.ks * ((cv.kc + cfg.k_align - 1) / cfg.k_align * cfg.k_align);
  const bool wide_b = cfg.igemm_wide != nullptr && cfg.widen_block != nullptr && cfg.wide_block_bytes != nullptr;
  parallel_for(runner, groups * tile_chunks, [&](size_t task) {
    const size_t g = task / tile_chunks;
    const size_t t0 = (task % tile_chunks) * tiles_per_chunk, t1 = std::min(tiles, t0 + tiles_per_chunk);
    const uint8_t* packed = cv.group_weights + g * cv.group_stride;
    uint8_t* wide = wide_b && t1 - t0 >= 2 ? wide_block_scratch(cfg.wide_block_bytes(wide_k)) : nullptr;
    for (size_t b = 0; b < blocks; ++b) {
      const size_t j0 = b * nr, nc = std::min(nr, goc - j0);
      const size_t col = g * goc + j0;
      const uint8_t* w = packed + b * block_bytes;
      if (wide) cfg.widen_block(wide_k, w, wide);
      for (size_t t = t0; t < t1; ++t) {
        const size_t i0 = t * mr, rows = std::min(mr, pixels - i0);
        const uint8_t* const* ind = indirection + t * cv.ks * mr;
        uint8_t* out = output + i0 * oc + col;
        const uint8_t* res = residual ? p.residual + i0 * p.residual_stride + col : nullptr;
        if (wide) {
          cfg.igemm_wide(rows, nc, cv.kc, cv.ks, ind, g * gic, cv.zero.data(), w, wide, out, oc, res,
                         p.residual_stride, &ep);
        } else {
          cfg.igemm(rows, nc, cv.kc, cv.ks, ind, g * gic, cv.zero.data(), w, out, oc, res, p.residual_stride, &ep);
        }
      }
    }
  });
}

}  // namespace

std::string pack_gemm_sections(const ConvShape& s, const ConvPlan& plan, const int8_t* weights, const int32_t* bias,
                               const float* multiplier, int32_t input_zero_point, uint8_t* packed,
                               uint8_t* group_weights) {
  const size_t taps = static_cast<size_t>(s.taps()), gic = static_cast<size_t>(s.group_in_c());
  const size_t goc = static_cast<size_t>(s.group_out_c());
  if (plan.first_kernel != nullptr) {
    conv_first_pack(plan.first_layout, goc, plan.ks, plan.kc, weights, bias, input_zero_point, packed);
    return {};
  }
  GemmWeightsSource src;
  src.n = goc;
  src.c_stride = taps * gic;
  src.k_stride = 1;
  src.input_zero_point = input_zero_point;
  src.ks = plan.ks, src.kc = plan.kc;
  // 1x1: one segment; first layer: one segment per kernel row (kernel_w * in_c contiguous values);
  // k x k: one segment per tap.
  src.ks_stride = plan.path == ConvPath::gemm_1x1 ? 0 : plan.kc;
  for (int32_t g = 0; g < s.groups; ++g) {
    src.w = weights + static_cast<size_t>(g) * goc * taps * gic;
    src.bias = bias + static_cast<size_t>(g) * goc;
    src.multiplier = multiplier + static_cast<size_t>(g) * goc;
    std::string error = pack_gemm_weights(*plan.gemm, src, group_weights + g * plan.group_stride, plan.group_bytes);
    if (!error.empty()) return error;
  }
  return {};
}

bool workspace_is_current(const PackedConv& cv, ConvWorkspace& ws, const uint8_t* input, size_t mr) {
  if (!ws.indirection.empty() && ws.built_input == input && ws.built_zero == cv.zero.data() && ws.built_mr == mr &&
      ws.built_zero_point == cv.input_zero_point && ws.built_shape == cv.shape) {
    return true;
  }
  ws.built_input = input, ws.built_zero = cv.zero.data(), ws.built_mr = mr, ws.built_shape = cv.shape;
  ws.built_zero_point = cv.input_zero_point;
  return false;
}

std::string run_gemm_1x1(const PackedConv& cv, const uint8_t* input, uint8_t* output, const RequantParams& p,
                         TaskRunner* runner) {
  const ConvShape& s = cv.shape;
  const GemmConfig& cfg = *cv.gemm;
  const size_t cin = static_cast<size_t>(s.in_c), oc = static_cast<size_t>(s.out_c);
  const GemmEpilogue ep = make_gemm_epilogue(p);
  if (s.stride_h == 1 && s.stride_w == 1) {
    // The input IS the GEMM's A: one row per pixel, all images at once.
    GemmProblem pb;
    pb.m = static_cast<size_t>(s.batch) * s.in_h * s.in_w;
    pb.n = oc;
    pb.k = cin;
    pb.a = input;
    pb.a_stride = cin;
    pb.packed = cv.group_weights;
    pb.c = output;
    pb.c_stride = oc;
    pb.residual = p.residual;
    pb.residual_stride = p.residual_stride;
    pb.epilogue = ep;
    return gemm_run(cfg, pb, runner);
  }
  // Strided: an output row's pixels are input pixels stride_w apart, i.e. A rows stride_w * in_c
  // elements apart; the micro-kernel takes that stride directly.
  const size_t oh = static_cast<size_t>(s.out_h()), ow = static_cast<size_t>(s.out_w());
  const size_t rows = static_cast<size_t>(s.batch) * oh;
  const size_t mr = cfg.mr, nr = cfg.nr, blocks = ceil_div(oc, nr);
  const size_t block_bytes = packed_gemm_block_bytes(cfg, 1, cin);
  const size_t threads = threads_of(runner);
  const size_t chunks = threads == 1 ? 1 : std::min(rows, 4 * threads);
  const size_t rows_per_chunk = ceil_div(rows, chunks);
  const uint8_t* packed = cv.group_weights;
  const size_t a_stride = static_cast<size_t>(s.stride_w) * cin;
  parallel_for(runner, chunks, [&](size_t task) {
    const size_t r0 = task * rows_per_chunk, r1 = std::min(rows, r0 + rows_per_chunk);
    for (size_t b = 0; b < blocks; ++b) {
      const size_t j0 = b * nr, nc = std::min(nr, oc - j0);
      for (size_t r = r0; r < r1; ++r) {
        const size_t n = r / oh, oy = r % oh;
        const uint8_t* a_row = input + ((n * s.in_h + oy * s.stride_h) * s.in_w) * cin;
        for (size_t x0 = 0; x0 < ow; x0 += mr) {
          const size_t m = std::min(mr, ow - x0), px = r * ow + x0;
          cfg.gemm(m, nc, cin, a_row + x0 * a_stride, a_stride, packed + b * block_bytes, output + px * oc + j0, oc,
                   p.residual != nullptr ? p.residual + px * p.residual_stride + j0 : nullptr, p.residual_stride, &ep);
        }
      }
    }
  });
  return {};
}

std::string run_igemm(const PackedConv& cv, ConvWorkspace& ws, const uint8_t* input, uint8_t* output,
                      const RequantParams& p, TaskRunner* runner) {
  const ConvShape& s = cv.shape;
  const size_t mr = cv.gemm->mr;
  if (!workspace_is_current(cv, ws, input, mr)) {
    ws.indirection.resize(igemm_indirection_size(s, mr));
    build_igemm_indirection(s, input, static_cast<size_t>(s.in_c), cv.zero.data(), mr, ws.indirection.data());
  }
  igemm_over_tiles(cv, ws.indirection.data(), output, p, runner);
  return {};
}

std::string run_first_layer(const PackedConv& cv, ConvWorkspace& ws, const uint8_t* input, uint8_t* output,
                            const RequantParams& p, TaskRunner* runner) {
  const ConvShape& s = cv.shape;
  const size_t ph = static_cast<size_t>(s.in_h + s.pad_top + s.pad_bottom);
  const size_t pw = static_cast<size_t>(s.in_w + s.pad_left + s.pad_right);
  const size_t c = static_cast<size_t>(s.in_c), row = static_cast<size_t>(s.in_w) * c;
  // The dedicated kernel takes pixel-major pointers, which is the layout with mr = 1.
  const size_t mr = cv.first_kernel != nullptr ? 1 : cv.gemm->mr;
  const size_t padded_bytes = static_cast<size_t>(s.batch) * ph * pw * c + 64;
  if (ws.padded.size() != padded_bytes || !workspace_is_current(cv, ws, ws.padded.data(), mr)) {
    // A new layout: the border (and the slack the kernels read past a segment) holds the zero point.
    ws.padded.assign(padded_bytes, static_cast<uint8_t>(cv.input_zero_point));
    workspace_is_current(cv, ws, ws.padded.data(), mr);
    ws.indirection.resize(row_segment_indirection_size(s, mr));
    build_row_segment_indirection(s, ws.padded.data(), cv.zero.data(), mr, ws.indirection.data());
  }
  // Only the image moves in; the border keeps the zero point.
  for (size_t n = 0; n < static_cast<size_t>(s.batch); ++n) {
    for (size_t y = 0; y < static_cast<size_t>(s.in_h); ++y) {
      std::memcpy(ws.padded.data() + ((n * ph + y + s.pad_top) * pw + s.pad_left) * c,
                  input + (n * s.in_h + y) * row, row);
    }
  }
  if (cv.first_kernel == nullptr) {
    igemm_over_tiles(cv, ws.indirection.data(), output, p, runner);
    return {};
  }
  const size_t pixels = static_cast<size_t>(s.batch) * s.out_h() * s.out_w();
  const size_t threads = threads_of(runner);
  // Chunks of whole kernel steps (first_mr pixels), several per thread.
  const size_t step = cv.first_mr;
  const size_t steps = ceil_div(pixels, step);
  const size_t chunks = threads == 1 ? 1 : std::min(steps, 4 * threads);
  const size_t steps_per_chunk = ceil_div(steps, chunks);
  parallel_for(runner, chunks, [&](size_t task) {
    const size_t p0 = task * steps_per_chunk * step, p1 = std::min(pixels, p0 + steps_per_chunk * step);
    if (p0 >= p1) return;
    ConvFirstArgs a;
    a.pixels = p1 - p0;
    a.out_c = static_cast<size_t>(s.out_c);
    a.segments = cv.ks;
    a.kc = cv.kc;
    a.rows = ws.indirection.data() + p0 * cv.ks;
    a.packed = cv.packed.data();
    a.output = output + p0 * a.out_c;
    a.residual = p.residual != nullptr ? p.residual + p0 * p.residual_stride : nullptr;
    a.residual_stride = p.residual_stride;
    cv.first_kernel(a, p);
  });
  return {};
}

}  // namespace kiln::kernels::conv_detail
