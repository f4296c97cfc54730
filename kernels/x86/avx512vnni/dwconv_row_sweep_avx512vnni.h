// The depthwise row kernel's sweep of one 64-channel tile (or fewer, masked) along one output row, in asm, for
// the epilogues without a residual (plain, or hardswish; codes in [0, 255]) of tiles whose
// accumulators times multipliers stay below 2^30 in magnitude (the bound dwconv_pack stores), so that the
// float to int32 conversion cannot overflow and the upper clamp can wait for the bytes. Native builds only: the SIMDe
// lane keeps the intrinsics of dwconv_c64_avx512vnni.cc, which compute the same bytes.
//
// Why asm: the sweep needs 12 weight vectors, 12 accumulators (three pixels in flight at stride 1),
// 5 temporaries and 3 epilogue constants: all 32 zmm registers. As intrinsics gcc 12 keeps a third
// of the weights on the stack and reloads the rest from the tile, and the loads, not the vpdpbusd,
// bound the loop (Zen 5 loads two zmm per cycle): 21 cycles per pixel and tile against about 11.
//
// The sweep reads the indirection buffer's pointers as it goes (one tap column per input column).
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln::kernels::avx512 {

// The epilogue's constants, 64 bytes each: qmax as bytes, zo as int16, qmin as bytes, and for
// hardswish (when `hardswish`) out_scale, 3, 0, 6 and the hardswish multiplier as floats.
struct alignas(64) DwSweepConstants {
  uint8_t qmax[64];
  int16_t zo[32];
  uint8_t qmin[64];
  float hs[16];
  bool hardswish;
};


// One output row of one tile: `ind` is the row's first pixel's taps (9 pointers per pixel, `step`
// pointers apart, as DwConvArgs), `ow` >= 1 pixels at horizontal `stride` (1 or 2) written
// `out_stride` bytes apart from `out`; `c` is the channel offset added to every input and output
// pointer, `channels` (1..64) how many the tile has (below 64: masked loads and stores); `tile` the
// packed row tile (dwconv_pack's row layout).
void dw_row_sweep(const uint8_t* const* ind, size_t step, size_t ow, size_t stride, uint8_t* out, size_t out_stride,
                  size_t c, size_t channels, const uint8_t* tile, const DwSweepConstants& k);

// Tails of at most 16 channels on four output rows at once, one row per 128-bit lane (as RowZmm4 in
// dwconv_c64_avx512vnni.cc): the packed tile's low 128 bits of every vector broadcast to four lanes,
// then the constants.
struct alignas(64) DwQuadTile {
  uint8_t bytes[512 + 12 * 64 + sizeof(DwSweepConstants)];
  bool hardswish;
};
void dw_quad_tile(const uint8_t* tile, const DwSweepConstants& k, DwQuadTile* quad);

// Rows r .. r + 3 of a tail tile: `ind` is row r's first pixel's taps, the next row's `rows_step`
// pointers on; `out` row r's first pixel plus the channel offset, the next row's `out_rows` bytes on;
// `stride` the horizontal stride (1 or 2); `channels` 1..16; the rest as dw_row_sweep.
void dw_rows4_sweep(const uint8_t* const* ind, size_t step, size_t rows_step, size_t ow, size_t stride,
                    uint8_t* out, size_t out_stride, size_t out_rows, size_t c, size_t channels,
                    const DwQuadTile& tile);

}  // namespace kiln::kernels::avx512
