// Indirection buffers: for every output pixel of a convolution, one pointer per kernel tap to the
// input pixel that tap reads (its first channel), or to a shared "zero" row (input_zero_point
// bytes, at least as long as one input pixel) where the tap falls into the padding. Kernels read
// inputs only through these pointers, so padding, stride and kernel size cost nothing inside them
// and no im2col copy is made.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kiln/kernels/conv_shape.h"

namespace kiln::kernels {

// Pointers the buffer holds: batch * out_h * out_w * kernel_h * kernel_w.
size_t conv_indirection_size(const ConvShape& s);

// Fills `buffer` in pixel-major order: buffer[pixel * taps + ky * kernel_w + kx], pixel counted
// over (n, oy, ox). `input` is NHWC with `pixel_stride` elements between pixels.
void build_conv_indirection(const ConvShape& s, const uint8_t* input, size_t pixel_stride, const uint8_t* zero,
                            const uint8_t** buffer);

// The indirect-GEMM layout (gemm.h, IgemmUkernelFn): output pixels in tiles of mr; for tile t,
// tap p and row m, buffer[(t * taps + p) * mr + m] points at tap p of pixel t * mr + m (the zero
// row for padding, and for rows past the last pixel).
size_t igemm_indirection_size(const ConvShape& s, size_t mr);
void build_igemm_indirection(const ConvShape& s, const uint8_t* input, size_t pixel_stride, const uint8_t* zero,
                             size_t mr, const uint8_t** buffer);

// The same layout with one segment per kernel ROW (kernel_h segments per pixel) into an image
// that is already padded (in_h + pad_top + pad_bottom rows of in_w + pad_left + pad_right pixels of
// in_c channels, images back to back): segment ky of pixel (n, oy, ox) starts at its kernel row's
// first tap and spans kernel_w * in_c contiguous bytes.
size_t row_segment_indirection_size(const ConvShape& s, size_t mr);
void build_row_segment_indirection(const ConvShape& s, const uint8_t* padded, const uint8_t* zero, size_t mr,
                                   const uint8_t** buffer);

}  // namespace kiln::kernels
