#include "kiln/kernels/conv_shape.h"

namespace kiln::kernels {

std::string conv_shape_error(const ConvShape& s) {
  if (s.dilation_h != 1 || s.dilation_w != 1) {
    return "convolution with dilation " + std::to_string(s.dilation_h) + "x" + std::to_string(s.dilation_w) +
           " is unsupported (only dilation 1)";
  }
  if (s.batch < 1 || s.in_h < 1 || s.in_w < 1 || s.in_c < 1 || s.out_c < 1) {
    return "convolution needs positive batch, input height, width, channels and output channels";
  }
  if (s.kernel_h < 1 || s.kernel_w < 1 || s.stride_h < 1 || s.stride_w < 1) {
    return "convolution needs a positive kernel size and stride";
  }
  if (s.pad_top < 0 || s.pad_left < 0 || s.pad_bottom < 0 || s.pad_right < 0) {
    return "convolution padding must not be negative";
  }
  if (s.pad_top >= s.kernel_h || s.pad_bottom >= s.kernel_h || s.pad_left >= s.kernel_w || s.pad_right >= s.kernel_w) {
    return "convolution padding must be smaller than the kernel";
  }
  if (s.groups < 1 || s.in_c % s.groups != 0 || s.out_c % s.groups != 0) {
    return "convolution groups must divide the input and output channels";
  }
  // Sizes kiln indexes with 32-bit arithmetic in places, and the int32 accumulator bound:
  // |sum (a - za) w| <= 255 * 127 * K must stay below 2^31 with room for the bias.
  const int64_t big = int64_t{1} << 30;
  if (s.in_h > 65536 || s.in_w > 65536 || s.in_c > 65536 || s.out_c > 65536 || s.kernel_h > 64 || s.kernel_w > 64 ||
      s.stride_h > 64 || s.stride_w > 64) {
    return "convolution dimensions are too large";
  }
  if (int64_t{s.batch} * s.in_h * s.in_w * s.in_c >= big) return "convolution input is too large";
  if (s.in_h + s.pad_top + s.pad_bottom < s.kernel_h || s.in_w + s.pad_left + s.pad_right < s.kernel_w) {
    return "convolution kernel is larger than the padded input";
  }
  if (int64_t{s.batch} * s.out_h() * s.out_w() * s.out_c >= big) return "convolution output is too large";
  if (int64_t{s.taps()} * s.group_in_c() > 32768) {
    return "convolution reduction (kernel_h * kernel_w * input channels per group) exceeds 32768";
  }
  return {};
}

}  // namespace kiln::kernels
