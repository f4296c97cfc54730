// Weight packing for the depthwise kernels; the layout of each ISA is described beside its kernel
// and spelled out here once.
#include <cmath>
#include <cstring>

#include "kiln/kernels/dwconv.h"
#include "dwconv_vnni_row_layout.h"

namespace kiln::kernels {
namespace {

// bias - za * sum of the channel's taps: the zero-point term, folded in once (modular, as the
// kernels' int32 adds are).
int32_t folded_bias(const int8_t* w, size_t taps, int32_t bias, int32_t za) {
  int64_t sum = 0;
  for (size_t t = 0; t < taps; ++t) sum += w[t];
  return static_cast<int32_t>(static_cast<uint32_t>(bias) - static_cast<uint32_t>(za * sum));
}

size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

// Tiles of 32 channels: 32 int32 biases and 32 float multipliers in class order (class k, lane j:
// channel 4j + k), then per pair of taps 4 classes x 8 lanes x {int16 w[first tap], int16 w[second]}.
// Pairs: taps (2p, 2p + 1) in tap order; in row mode (row_kernel_w = kw) for each pair of kernel
// rows (2g, 2g + 1) and each kx, taps (2g, kx) and (2g + 1, kx), the second zero past the last row.
constexpr size_t kAvx2Tile = 32;
size_t avx2_pairs(size_t taps, size_t row_kernel_w) {
  if (row_kernel_w == 0) return (taps + 1) / 2;
  return (taps / row_kernel_w + 1) / 2 * row_kernel_w;
}
size_t avx2_tile_bytes(size_t taps, size_t row_kernel_w) {
  return kAvx2Tile * 8 + avx2_pairs(taps, row_kernel_w) * 128;
}
// The taps of pair pr (second = taps when there is none).
void avx2_pair_taps(size_t pr, size_t taps, size_t row_kernel_w, size_t* first, size_t* second) {
  if (row_kernel_w == 0) {
    *first = 2 * pr, *second = 2 * pr + 1 < taps ? 2 * pr + 1 : taps;
    return;
  }
  const size_t g = pr / row_kernel_w, kx = pr % row_kernel_w, kh = taps / row_kernel_w;
  *first = 2 * g * row_kernel_w + kx;
  *second = 2 * g + 1 < kh ? (2 * g + 1) * row_kernel_w + kx : taps;
}

// Tiles of 64 channels: 64 int32 biases and 64 float multipliers in class order (class k, lane j:
// channel 4j + k), then per tap 4 classes x 16 lanes x 4 bytes, the weight of channel 4j + k in
// byte k, zeros elsewhere.
constexpr size_t kAvx512Tile = 64;
size_t avx512_tile_bytes(size_t taps) { return kAvx512Tile * 8 + taps * 256; }
// Row mode (3x3, row_kernel_w = 3): 64 int32 biases and 64 float multipliers in unpack order
// (vector v, lane i: channel 16 * (i / 4) + 4 * v + i % 4, the order in which the kernel's byte and
// word unpacks of three input rows leave the channels), then for kx = 0..2 and v = 0..3 a vector
// whose lane i holds that channel's weights of taps (0, kx), (1, kx), (2, kx) in bytes 0..2.
// Then the products bound line (dwconv_vnni_row_layout.h).
constexpr size_t kAvx512RowTileBytes = vnni_row::kTileBytes3;
// Row mode 5x5 (row_kernel_w = 5): the same biases and multipliers, then for kx = 0..4 two groups
// of four vectors: taps (0..3, kx) in bytes 0..3 of each lane, then tap (4, kx) in byte 0.
constexpr size_t kAvx512Row5TileBytes = vnni_row::kTileBytes5;
size_t avx512_row_channel(size_t v, size_t i) { return 16 * (i / 4) + 4 * v + i % 4; }

// Tiles of 16 channels: 16 int32 biases, 16 float multipliers, then per tap 16 int16 weights.
constexpr size_t kNeonTile = 16;
size_t neon_tile_bytes(size_t taps) { return kNeonTile * 8 + taps * kNeonTile * 2; }

}  // namespace

bool dwconv_row_mode(Isa isa, size_t kernel_h, size_t kernel_w, size_t stride_w) {
  if (isa == Isa::avx512vnni && kernel_h == 5 && kernel_w == 5) return stride_w == 1 || stride_w == 2;
  if (kernel_h != 3 || kernel_w != 3) return false;
  return (isa == Isa::avx2 && stride_w == 1) || (isa == Isa::avx512vnni && (stride_w == 1 || stride_w == 2));
}

size_t dwconv_packed_size(Isa isa, size_t channels, size_t taps, size_t row_kernel_w) {
  switch (isa) {
    case Isa::avx2: return round_up(channels, kAvx2Tile) / kAvx2Tile * avx2_tile_bytes(taps, row_kernel_w);
    case Isa::avx512vnni:
      return round_up(channels, kAvx512Tile) / kAvx512Tile *
             (row_kernel_w == 3   ? kAvx512RowTileBytes
              : row_kernel_w == 5 ? kAvx512Row5TileBytes
                                  : avx512_tile_bytes(taps));
    case Isa::neondot:
    case Isa::i8mm: return round_up(channels, kNeonTile) / kNeonTile * neon_tile_bytes(taps);
    case Isa::ref: break;
  }
  return channels * 8 + channels * taps;
}

void dwconv_pack(Isa isa, size_t channels, size_t taps, const int8_t* weights, const int32_t* bias,
                 const float* multiplier, int32_t input_zero_point, void* out, size_t row_kernel_w) {
  uint8_t* dst = static_cast<uint8_t*>(out);
  std::memset(dst, 0, dwconv_packed_size(isa, channels, taps, row_kernel_w));
  auto fbias = [&](size_t c) { return folded_bias(weights + c * taps, taps, bias[c], input_zero_point); };
  auto put32 = [](uint8_t* p, int32_t v) { std::memcpy(p, &v, 4); };
  auto put16 = [](uint8_t* p, int16_t v) { std::memcpy(p, &v, 2); };
  auto putf = [](uint8_t* p, float v) { std::memcpy(p, &v, 4); };
  switch (isa) {
    case Isa::ref: {
      for (size_t c = 0; c < channels; ++c) put32(dst + 4 * c, fbias(c));
      for (size_t c = 0; c < channels; ++c) putf(dst + 4 * channels + 4 * c, multiplier[c]);
      std::memcpy(dst + 8 * channels, weights, channels * taps);
      return;
    }
    case Isa::avx2: {
      const size_t pairs = avx2_pairs(taps, row_kernel_w);
      for (size_t c0 = 0; c0 < channels; c0 += kAvx2Tile) {
        uint8_t* tile = dst + c0 / kAvx2Tile * avx2_tile_bytes(taps, row_kernel_w);
        for (size_t k = 0; k < 4; ++k) {
          for (size_t j = 0; j < 8; ++j) {
            const size_t c = c0 + 4 * j + k;
            if (c >= channels) continue;
            put32(tile + 4 * (8 * k + j), fbias(c));
            putf(tile + kAvx2Tile * 4 + 4 * (8 * k + j), multiplier[c]);
            for (size_t pr = 0; pr < pairs; ++pr) {
              uint8_t* at = tile + kAvx2Tile * 8 + pr * 128 + k * 32 + j * 4;
              size_t first = 0, second = 0;
              avx2_pair_taps(pr, taps, row_kernel_w, &first, &second);
              put16(at, weights[c * taps + first]);
              if (second < taps) put16(at + 2, weights[c * taps + second]);
            }
          }
        }
      }
      return;
    }
    case Isa::avx512vnni: {
      if (row_kernel_w == 3 || row_kernel_w == 5) {
        // Rows in groups of four (3x3: one group, 5x5: rows 0..3, then row 4 alone): tap (ky, kx)
        // goes to byte ky % 4 of vector ((kx * groups + ky / 4) * 4 + v).
        const size_t k = row_kernel_w, groups = (k + 3) / 4;
        const size_t tile_bytes = k == 3 ? kAvx512RowTileBytes : kAvx512Row5TileBytes;
        for (size_t c0 = 0; c0 < channels; c0 += kAvx512Tile) {
          uint8_t* tile = dst + c0 / kAvx512Tile * tile_bytes;
          double bound = 0;
          for (size_t v = 0; v < 4; ++v) {
            for (size_t i = 0; i < 16; ++i) {
              const size_t c = c0 + avx512_row_channel(v, i);
              if (c >= channels) continue;
              put32(tile + 64 * v + 4 * i, fbias(c));
              putf(tile + kAvx512Tile * 4 + 64 * v + 4 * i, multiplier[c]);
              double sum_abs = 0;
              for (size_t t = 0; t < taps; ++t) sum_abs += std::abs(static_cast<double>(weights[c * taps + t]));
              const double b = (std::abs(static_cast<double>(fbias(c))) + 255.0 * sum_abs) *
                               std::abs(static_cast<double>(multiplier[c]));
              bound = std::isnan(b) || b > bound ? b : bound;  // NaN stays (and fails every check)
              for (size_t kx = 0; kx < k; ++kx) {
                for (size_t ky = 0; ky < k; ++ky) {
                  tile[kAvx512Tile * 8 + ((kx * groups + ky / 4) * 4 + v) * 64 + 4 * i + ky % 4] =
                      static_cast<uint8_t>(weights[c * taps + ky * k + kx]);
                }
              }
            }
          }
          // Rounded up to the next float so that the stored bound is never below the true one.
          if (k == 3) {
            const float f = static_cast<float>(bound);
            putf(tile + vnni_row::kBound3, static_cast<double>(f) < bound ? std::nextafter(f, INFINITY) : f);
          }
        }
        return;
      }
      for (size_t c0 = 0; c0 < channels; c0 += kAvx512Tile) {
        uint8_t* tile = dst + c0 / kAvx512Tile * avx512_tile_bytes(taps);
        for (size_t k = 0; k < 4; ++k) {
          for (size_t j = 0; j < 16; ++j) {
            const size_t c = c0 + 4 * j + k;
            if (c >= channels) continue;
            put32(tile + 4 * (16 * k + j), fbias(c));
            putf(tile + kAvx512Tile * 4 + 4 * (16 * k + j), multiplier[c]);
            for (size_t t = 0; t < taps; ++t) {
              tile[kAvx512Tile * 8 + t * 256 + k * 64 + j * 4 + k] = static_cast<uint8_t>(weights[c * taps + t]);
            }
          }
        }
      }
      return;
    }
    case Isa::neondot:
    case Isa::i8mm: {
      for (size_t c0 = 0; c0 < channels; c0 += kNeonTile) {
        uint8_t* tile = dst + c0 / kNeonTile * neon_tile_bytes(taps);
        for (size_t j = 0; j < kNeonTile && c0 + j < channels; ++j) {
          const size_t c = c0 + j;
          put32(tile + 4 * j, fbias(c));
          putf(tile + kNeonTile * 4 + 4 * j, multiplier[c]);
          for (size_t t = 0; t < taps; ++t) put16(tile + kNeonTile * 8 + (t * kNeonTile + j) * 2, weights[c * taps + t]);
        }
      }
      return;
    }
  }
}

}  // namespace kiln::kernels
