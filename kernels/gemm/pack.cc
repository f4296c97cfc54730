// pack_gemm_weights: the layout documented in kiln/kernels/pack.h.
#include "kiln/kernels/pack.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace kiln::kernels {
namespace {

size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

// Byte offset, inside one k-group of nr*kr bytes, of (k index i in the group, column j).
size_t group_offset(const GemmConfig& cfg, size_t i, size_t j) {
  if (cfg.layout == GemmPackLayout::avx2_int16pair) {
    const size_t half = j / 8, jj = j % 8;
    // k 0 and 2 form the first pair vector, k 1 and 3 the second.
    const size_t second = i & 1, slot = i >> 1;
    return half * 32 + second * 16 + jj * 2 + slot;
  }
  return j * cfg.kr + i;
}

}  // namespace

size_t packed_gemm_block_bytes(const GemmConfig& config, size_t ks, size_t kc) {
  const size_t kcp = round_up(kc, config.k_align);
  const size_t wbytes = ks * kcp * config.nr;
  return 8 * config.nr + (config.wbits == 4 ? wbytes / 2 : wbytes);
}

size_t packed_gemm_size(const GemmConfig& config, size_t n, size_t ks, size_t kc) {
  return (n + config.nr - 1) / config.nr * packed_gemm_block_bytes(config, ks, kc);
}

std::string pack_gemm_weights(const GemmConfig& cfg, const GemmWeightsSource& src, void* dst, size_t dst_size) {
  if (src.w == nullptr || dst == nullptr) return "pack_gemm_weights: null weights or destination";
  if (src.n == 0 || src.ks == 0 || src.kc == 0) return "pack_gemm_weights: n, ks and kc must be positive";
  if (src.input_zero_point < 0 || src.input_zero_point > 255) return "pack_gemm_weights: input zero point outside 0..255";
  const size_t total = packed_gemm_size(cfg, src.n, src.ks, src.kc);
  if (dst_size < total) return "pack_gemm_weights: destination holds " + std::to_string(dst_size) +
                               " bytes, needs " + std::to_string(total);
  const int lo = cfg.wbits == 4 ? -8 : -127, hi = cfg.wbits == 4 ? 7 : 127;
  auto weight = [&](size_t p, size_t k, size_t c) -> int32_t {
    return src.w[c * src.c_stride + p * src.ks_stride + k * src.k_stride];
  };
  for (size_t c = 0; c < src.n; ++c) {
    for (size_t p = 0; p < src.ks; ++p) {
      for (size_t k = 0; k < src.kc; ++k) {
        const int32_t v = weight(p, k, c);
        if (v < lo || v > hi) {
          return "pack_gemm_weights: weight " + std::to_string(v) + " at column " + std::to_string(c) +
                 " outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "] for int" +
                 std::to_string(cfg.wbits);
        }
      }
    }
  }

  std::memset(dst, 0, total);
  const size_t nr = cfg.nr, kr = cfg.kr;
  const size_t kcp = round_up(src.kc, cfg.k_align);
  const size_t group_bytes = nr * kr;
  const size_t block_bytes = packed_gemm_block_bytes(cfg, src.ks, src.kc);
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (size_t j0 = 0; j0 < src.n; j0 += nr) {
    uint8_t* block = out + (j0 / nr) * block_bytes;
    int32_t bias[64] = {};
    float mult[64] = {};
    for (size_t j = 0; j < nr && j0 + j < src.n; ++j) {
      const size_t c = j0 + j;
      int64_t wsum = 0;
      for (size_t p = 0; p < src.ks; ++p) {
        for (size_t k = 0; k < src.kc; ++k) wsum += weight(p, k, c);
      }
      const int64_t b = (src.bias ? src.bias[c] : 0) + (int64_t{cfg.bias_wsum_factor} - src.input_zero_point) * wsum;
      bias[j] = static_cast<int32_t>(b);
      mult[j] = src.multiplier ? src.multiplier[c] : 0.0f;
    }
    std::memcpy(block, bias, 4 * nr);
    std::memcpy(block + 4 * nr, mult, 4 * nr);
    uint8_t* wout = block + 8 * nr;
    for (size_t p = 0; p < src.ks; ++p) {
      for (size_t k = 0; k < src.kc; ++k) {
        const size_t g = k / kr, i = k % kr;
        for (size_t j = 0; j < nr && j0 + j < src.n; ++j) {
          const int32_t v = weight(p, k, j0 + j);
          if (cfg.wbits == 8) {
            wout[(p * kcp / kr + g) * group_bytes + group_offset(cfg, i, j)] = static_cast<uint8_t>(static_cast<int8_t>(v));
          } else {
            const size_t gp = (p * kcp / kr + g) / 2;  // kcp is a multiple of 2*kr: pairs never straddle segments
            uint8_t& byte = wout[gp * group_bytes + group_offset(cfg, i, j)];
            const uint8_t nib = static_cast<uint8_t>(v) & 0x0F;
            byte = (g & 1) ? static_cast<uint8_t>((byte & 0x0F) | (nib << 4)) : static_cast<uint8_t>((byte & 0xF0) | nib);
          }
        }
      }
    }
  }
  return "";
}

AlignedBuffer::AlignedBuffer(size_t size) : size_(size) {
  if (size == 0) return;
  void* p = ::operator new(size, std::align_val_t{64});
  std::memset(p, 0, size);
  data_.reset(p);
}

void AlignedBuffer::Free::operator()(void* p) const { ::operator delete(p, std::align_val_t{64}); }

}  // namespace kiln::kernels
