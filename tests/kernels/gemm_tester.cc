#include "gemm_tester.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>

#include "kiln/kernels/isa.h"
#include "kiln/kernels/pack.h"
#include "kiln/kernels/requant.h"

namespace kiln::kernels::testing {
namespace {

size_t out_bytes(GemmOutput o) { return o == GemmOutput::u8 ? 1 : 4; }

int8_t weight_value(const GemmCase& tc, int wbits, std::mt19937& rng, size_t index) {
  const int hi = wbits == 4 ? 7 : 127, lo = wbits == 4 ? -8 : -127;
  switch (tc.operands) {
    case Operands::max_pos: return static_cast<int8_t>(hi);
    case Operands::max_neg: return static_cast<int8_t>(lo);
    case Operands::alternate: return static_cast<int8_t>(index % 2 ? lo : hi);
    case Operands::random: break;
  }
  return static_cast<int8_t>(std::uniform_int_distribution<int>(lo, hi)(rng));
}

uint8_t a_value(const GemmCase& tc, std::mt19937& rng, size_t index) {
  switch (tc.operands) {
    case Operands::max_pos:
    case Operands::max_neg: return 255;
    case Operands::alternate: return index % 2 ? 0 : 255;
    case Operands::random: break;
  }
  return static_cast<uint8_t>(rng());
}

// Compares m rows of n elements; also checks that the bytes between n and c_stride are untouched.
::testing::AssertionResult compare(const GemmCase& tc, const std::vector<uint8_t>& want, const std::vector<uint8_t>& got,
                                   size_t c_stride, const char* what) {
  const size_t eb = out_bytes(tc.output);
  for (size_t i = 0; i < tc.m; ++i) {
    for (size_t j = 0; j < tc.n; ++j) {
      const uint8_t* w = &want[(i * tc.n + j) * eb];
      const uint8_t* g = &got[(i * c_stride + j) * eb];
      if (std::memcmp(w, g, eb) != 0) {
        std::ostringstream s;
        s << what << " mismatch at row " << i << " col " << j << ": ";
        if (tc.output == GemmOutput::u8) {
          s << "want " << int{*w} << " got " << int{*g};
        } else if (tc.output == GemmOutput::i32) {
          int32_t x, y;
          std::memcpy(&x, w, 4);
          std::memcpy(&y, g, 4);
          s << "want " << x << " got " << y;
        } else {
          float x, y;
          std::memcpy(&x, w, 4);
          std::memcpy(&y, g, 4);
          s << "want " << x << " got " << y;
        }
        return ::testing::AssertionFailure() << s.str() << " [" << tc.describe() << "]";
      }
    }
    for (size_t j = tc.n * eb; j < c_stride * eb; ++j) {
      if (got[i * c_stride * eb + j] != 0xA5) {
        return ::testing::AssertionFailure() << what << " wrote past column n in row " << i << " [" << tc.describe() << "]";
      }
    }
  }
  return ::testing::AssertionSuccess();
}

struct Packed {
  AlignedBuffer buffer;
  std::string error;
};

Packed pack(const GemmConfig& cfg, const GemmCase& tc, const GemmOperands& ops) {
  GemmWeightsSource src;
  src.w = ops.w.data();
  src.n = tc.n;
  src.ks = tc.ks;
  src.kc = tc.k;
  src.c_stride = 1;
  src.k_stride = tc.n;
  src.ks_stride = tc.k * tc.n;
  src.bias = ops.bias.data();
  src.multiplier = ops.multiplier.data();
  src.input_zero_point = tc.a_zero_point;
  Packed p;
  p.buffer = AlignedBuffer(packed_gemm_size(cfg, tc.n, tc.ks, tc.k));
  p.error = pack_gemm_weights(cfg, src, p.buffer.data(), p.buffer.size());
  return p;
}

}  // namespace

std::string GemmCase::describe() const {
  std::ostringstream s;
  s << "m=" << m << " n=" << n << " k=" << k << " ks=" << ks << " a_stride=" << a_stride << " c_stride=" << c_stride
    << " za=" << a_zero_point << " zo=" << c_zero_point << " q=[" << qmin << "," << qmax << "]"
    << " act=" << (activation == Activation::hardswish ? "hardswish" : "none") << " residual=" << residual
    << " out=" << (output == GemmOutput::u8 ? "u8" : output == GemmOutput::i32 ? "i32" : "f32")
    << " operands=" << static_cast<int>(operands) << " ties=" << tie_multipliers << " multiplier_scale=" << multiplier_scale << " seed=" << seed;
  return s.str();
}

GemmOperands make_operands(const GemmCase& tc, int wbits) {
  std::mt19937 rng(tc.seed * 2654435761u + static_cast<uint32_t>(tc.k * 31 + tc.n * 7 + tc.m));
  GemmOperands ops;
  const size_t kk = tc.ks * tc.k;
  ops.w.resize(kk * tc.n);
  for (size_t i = 0; i < ops.w.size(); ++i) ops.w[i] = weight_value(tc, wbits, rng, i);
  ops.bias.resize(tc.n);
  ops.multiplier.resize(tc.n);
  // Scale so that the outputs spread over (and past) the uint8 range: |acc| ~ sqrt(K) * 128 * wmax / 2.
  const double wmax = wbits == 4 ? 8.0 : 127.0;
  const double typical = std::sqrt(static_cast<double>(kk)) * 74.0 * wmax / 2.0 + 1.0;
  for (size_t c = 0; c < tc.n; ++c) {
    ops.bias[c] = std::uniform_int_distribution<int32_t>(-100000, 100000)(rng);
    if (tc.tie_multipliers) {
      ops.multiplier[c] = std::ldexp(1.0f, -std::uniform_int_distribution<int>(1, 4)(rng));
    } else {
      ops.multiplier[c] = static_cast<float>(std::uniform_real_distribution<double>(20.0, 120.0)(rng) / typical);
    }
    ops.multiplier[c] *= tc.multiplier_scale;
    // Every third column negative: channels stored as the codes of -w (signed weight grids) carry
    // the sign in their multiplier.
    if (c % 3 == 2) ops.multiplier[c] = -ops.multiplier[c];
  }
  const size_t rows = tc.m * tc.ks;
  const size_t row_len = tc.a_stride ? tc.a_stride : tc.k;
  ops.a.resize(tc.a_offset + rows * row_len + 1);
  for (size_t i = 0; i < ops.a.size(); ++i) ops.a[i] = a_value(tc, rng, i);
  if (tc.residual) {
    ops.residual.resize(tc.m * tc.n);
    for (auto& v : ops.residual) v = static_cast<uint8_t>(rng());
    ops.residual_zero_point = std::uniform_int_distribution<int32_t>(0, 255)(rng);
    ops.residual_multiplier = static_cast<float>(std::uniform_real_distribution<double>(0.1, 1.5)(rng));
  }
  ops.out_scale = static_cast<float>(std::uniform_real_distribution<double>(0.01, 0.1)(rng));
  return ops;
}

GemmEpilogue make_epilogue(const GemmCase& tc, const GemmOperands& ops) {
  GemmEpilogue ep;
  ep.output = tc.output;
  ep.zero_point = tc.c_zero_point;
  ep.qmin = tc.qmin;
  ep.qmax = tc.qmax;
  ep.activation = tc.activation;
  ep.out_scale = ops.out_scale;
  ep.hardswish_multiplier = 1.0f / (6.0f * ops.out_scale);
  ep.residual_zero_point = ops.residual_zero_point;
  ep.residual_multiplier = ops.residual_multiplier;
  return ep;
}

void gemm_oracle(const GemmCase& tc, const GemmOperands& ops, const std::vector<std::vector<const uint8_t*>>& rows,
                 std::vector<uint8_t>* out) {
  const size_t eb = out_bytes(tc.output);
  out->assign(tc.m * tc.n * eb, 0);
  const GemmEpilogue ep = make_epilogue(tc, ops);
  RequantParams rp;
  rp.multiplier = ops.multiplier.data();
  rp.zero_point = ep.zero_point;
  rp.qmin = ep.qmin;
  rp.qmax = ep.qmax;
  rp.activation = ep.activation;
  rp.out_scale = ep.out_scale;
  rp.hardswish_multiplier = ep.hardswish_multiplier;
  rp.residual = tc.residual ? ops.residual.data() : nullptr;
  rp.residual_stride = tc.n;
  rp.residual_zero_point = ep.residual_zero_point;
  rp.residual_multiplier = ep.residual_multiplier;
  for (size_t i = 0; i < tc.m; ++i) {
    for (size_t c = 0; c < tc.n; ++c) {
      int64_t acc = ops.bias[c];
      for (size_t p = 0; p < tc.ks; ++p) {
        for (size_t k = 0; k < tc.k; ++k) {
          acc += (int64_t{rows[i][p][k]} - tc.a_zero_point) * ops.w[(p * tc.k + k) * tc.n + c];
        }
      }
      const int32_t acc32 = static_cast<int32_t>(acc);  // the cases keep |acc| < 2^31
      uint8_t* dst = out->data() + (i * tc.n + c) * eb;
      if (tc.output == GemmOutput::u8) {
        *dst = requantize(acc32, ops.multiplier[c], tc.residual ? ops.residual[i * tc.n + c] : uint8_t{0}, rp);
      } else if (tc.output == GemmOutput::i32) {
        std::memcpy(dst, &acc32, 4);
      } else {
        const float f = static_cast<float>(acc32) * ops.multiplier[c];
        std::memcpy(dst, &f, 4);
      }
    }
  }
}

::testing::AssertionResult check_gemm_ukernel(const GemmConfig& cfg, const GemmCase& tc) {
  if (tc.m > cfg.mr || tc.n > cfg.nr || tc.ks != 1) return ::testing::AssertionFailure() << "bad case for one tile";
  const GemmOperands ops = make_operands(tc, cfg.wbits);
  Packed p = pack(cfg, tc, ops);
  if (!p.error.empty()) return ::testing::AssertionFailure() << p.error;
  const size_t a_stride = tc.a_stride ? tc.a_stride : tc.k;
  std::vector<std::vector<const uint8_t*>> rows(tc.m);
  for (size_t i = 0; i < tc.m; ++i) rows[i] = {ops.a.data() + i * a_stride};
  std::vector<uint8_t> want;
  gemm_oracle(tc, ops, rows, &want);
  const size_t c_stride = tc.c_stride ? tc.c_stride : tc.n;
  std::vector<uint8_t> got(tc.m * c_stride * out_bytes(tc.output), 0xA5);
  const GemmEpilogue ep = make_epilogue(tc, ops);
  cfg.gemm(tc.m, tc.n, tc.k, ops.a.data(), a_stride, p.buffer.data(), got.data(), c_stride,
           tc.residual ? ops.residual.data() : nullptr, tc.n, &ep);
  ::testing::AssertionResult result = compare(tc, want, got, c_stride, cfg.gemm_name);
  if (!result) return result;
  if (cfg.gemm_wide != nullptr && cfg.pack_a_row == nullptr) {
    // The widened-B twin on the same case, the block widened into a buffer that held garbage.
    std::vector<uint8_t> wide(cfg.wide_block_bytes(tc.k) + 64, 0xA5);
    cfg.widen_block(tc.k, p.buffer.data(), wide.data());
    std::fill(got.begin(), got.end(), uint8_t{0xA5});
    cfg.gemm_wide(tc.m, tc.n, tc.k, ops.a.data(), a_stride, p.buffer.data(), wide.data(), got.data(), c_stride,
                  tc.residual ? ops.residual.data() : nullptr, tc.n, &ep);
    result = compare(tc, want, got, c_stride, cfg.gemm_wide_name);
  }
  if (!result || cfg.pack_a_row == nullptr) return result;
  // The packed-A twin on the same case: rows packed by the config's packer into a buffer whose
  // row stride is wider than a packed row (the gap holds garbage the kernel must not read).
  const size_t row_bytes = packed_a_row_bytes(cfg, tc.k), packed_stride = row_bytes + 64;
  std::vector<uint8_t> packed_a(tc.m * packed_stride, 0xA5);
  for (size_t i = 0; i < tc.m; ++i) cfg.pack_a_row(tc.k, ops.a.data() + i * a_stride, packed_a.data() + i * packed_stride);
  std::fill(got.begin(), got.end(), uint8_t{0xA5});
  cfg.gemm_packed_a(tc.m, tc.n, tc.k, packed_a.data(), packed_stride, p.buffer.data(), got.data(), c_stride,
                    tc.residual ? ops.residual.data() : nullptr, tc.n, &ep);
  result = compare(tc, want, got, c_stride, cfg.gemm_packed_a_name);
  if (!result || cfg.gemm_wide == nullptr) return result;
  std::vector<uint8_t> wide(cfg.wide_block_bytes(tc.k) + 64, 0xA5);
  cfg.widen_block(tc.k, p.buffer.data(), wide.data());
  std::fill(got.begin(), got.end(), uint8_t{0xA5});
  cfg.gemm_wide(tc.m, tc.n, tc.k, packed_a.data(), packed_stride, p.buffer.data(), wide.data(), got.data(), c_stride,
                tc.residual ? ops.residual.data() : nullptr, tc.n, &ep);
  return compare(tc, want, got, c_stride, cfg.gemm_wide_name);
}

::testing::AssertionResult check_igemm_ukernel(const GemmConfig& cfg, const GemmCase& tc) {
  if (tc.m > cfg.mr || tc.n > cfg.nr) return ::testing::AssertionFailure() << "bad case for one tile";
  const GemmOperands ops = make_operands(tc, cfg.wbits);
  Packed p = pack(cfg, tc, ops);
  if (!p.error.empty()) return ::testing::AssertionFailure() << p.error;
  const size_t seg_stride = tc.a_stride ? tc.a_stride : tc.k;
  std::vector<uint8_t> zero(tc.k, static_cast<uint8_t>(tc.a_zero_point));
  // Pointers in the layout the kernel reads: ks steps of config.mr pointers (unused ones null).
  std::vector<const uint8_t*> indirection(tc.ks * cfg.mr, nullptr);
  std::vector<std::vector<const uint8_t*>> rows(tc.m, std::vector<const uint8_t*>(tc.ks));
  std::mt19937 rng(tc.seed + 99);
  for (size_t i = 0; i < tc.m; ++i) {
    for (size_t s = 0; s < tc.ks; ++s) {
      const bool pad = tc.igemm_zero_rows && tc.ks > 1 && rng() % 4 == 0;
      // Segments in a shuffled order, so a kernel that assumes contiguity fails.
      const size_t slot = (s * tc.m + (tc.m - 1 - i)) % (tc.m * tc.ks);
      const uint8_t* real = ops.a.data() + tc.a_offset + slot * seg_stride;
      rows[i][s] = pad ? zero.data() : real;
      indirection[s * cfg.mr + i] = pad ? zero.data() : real - tc.a_offset;
    }
  }
  std::vector<uint8_t> want;
  gemm_oracle(tc, ops, rows, &want);
  const size_t c_stride = tc.c_stride ? tc.c_stride : tc.n;
  std::vector<uint8_t> got(tc.m * c_stride * out_bytes(tc.output), 0xA5);
  const GemmEpilogue ep = make_epilogue(tc, ops);
  cfg.igemm(tc.m, tc.n, tc.k, tc.ks, indirection.data(), tc.a_offset, zero.data(), p.buffer.data(), got.data(),
            c_stride, tc.residual ? ops.residual.data() : nullptr, tc.n, &ep);
  ::testing::AssertionResult result = compare(tc, want, got, c_stride, cfg.igemm_name);
  if (!result || cfg.igemm_wide == nullptr) return result;
  // The widened-B twin: all ks segments widened, as the convolution driver does.
  const size_t wide_k = tc.ks * ((tc.k + cfg.k_align - 1) / cfg.k_align * cfg.k_align);
  std::vector<uint8_t> wide(cfg.wide_block_bytes(wide_k) + 64, 0xA5);
  cfg.widen_block(wide_k, p.buffer.data(), wide.data());
  std::fill(got.begin(), got.end(), uint8_t{0xA5});
  cfg.igemm_wide(tc.m, tc.n, tc.k, tc.ks, indirection.data(), tc.a_offset, zero.data(), p.buffer.data(), wide.data(),
                 got.data(), c_stride, tc.residual ? ops.residual.data() : nullptr, tc.n, &ep);
  return compare(tc, want, got, c_stride, cfg.igemm_wide_name);
}

::testing::AssertionResult check_gemm_driver(const GemmConfig& cfg, const GemmCase& tc, TaskRunner* runner) {
  const GemmOperands ops = make_operands(tc, cfg.wbits);
  Packed p = pack(cfg, tc, ops);
  if (!p.error.empty()) return ::testing::AssertionFailure() << p.error;
  const size_t a_stride = tc.a_stride ? tc.a_stride : tc.k;
  std::vector<std::vector<const uint8_t*>> rows(tc.m);
  for (size_t i = 0; i < tc.m; ++i) rows[i] = {ops.a.data() + i * a_stride};
  std::vector<uint8_t> want;
  gemm_oracle(tc, ops, rows, &want);
  const size_t c_stride = tc.c_stride ? tc.c_stride : tc.n;
  std::vector<uint8_t> got(tc.m * c_stride * out_bytes(tc.output), 0xA5);
  GemmProblem pb;
  pb.m = tc.m;
  pb.n = tc.n;
  pb.k = tc.k;
  pb.a = ops.a.data();
  pb.a_stride = a_stride;
  pb.packed = p.buffer.data();
  pb.c = got.data();
  pb.c_stride = c_stride;
  pb.residual = tc.residual ? ops.residual.data() : nullptr;
  pb.residual_stride = tc.n;
  pb.epilogue = make_epilogue(tc, ops);
  const std::string err = gemm_run(cfg, pb, runner);
  if (!err.empty()) return ::testing::AssertionFailure() << err;
  return compare(tc, want, got, c_stride, "gemm_run");
}

std::vector<const GemmConfig*> runnable_configs() {
  std::vector<const GemmConfig*> out;
  for (Isa isa : compiled_isas()) {
    if (!cpu_supports(isa)) continue;
    for (int wbits : {8, 4}) {
      if (const GemmConfig* c = gemm_config(isa, wbits)) out.push_back(c);
    }
  }
  return out;
}

}  // namespace kiln::kernels::testing
