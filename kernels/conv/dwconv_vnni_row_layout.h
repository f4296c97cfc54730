// The AVX-512 VNNI depthwise row layouts (dwconv_pack writes them, dwconv_c64_avx512vnni reads
// them): per 64-channel tile, 64 int32 biases and 64 float multipliers in unpack order, then the
// weight vectors (3x3: 12, 5x5: 40). A 3x3 tile ends with one more 64-byte line whose first float
// bounds |accumulator * multiplier| over the tile's channels ((|bias| + 255 sum |w|) * |m|, computed
// at pack time): the asm row sweep may round without a float clamp only where it is below 2^30.
#pragma once

#include <cstddef>

namespace kiln::kernels::vnni_row {

constexpr size_t kTile = 64;                     // channels per tile
constexpr size_t kWeights = kTile * 8;           // offset of the first weight vector
constexpr size_t kBound3 = kWeights + 12 * 64;   // 3x3: offset of the products bound
constexpr size_t kTileBytes3 = kBound3 + 64;
constexpr size_t kTileBytes5 = kWeights + 40 * 64;

}  // namespace kiln::kernels::vnni_row
