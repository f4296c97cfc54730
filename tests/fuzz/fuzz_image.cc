// libFuzzer: image decoding (stb_image: png, jpg, bmp, pnm) and the preprocessing after it, with a
// resize whose size comes from the input's first byte.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/calib/data/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  kiln::calib::ImagePreprocess pre;
  pre.gray = (data[0] & 1) != 0;
  if (data[0] & 2) {
    pre.height = 1 + (data[0] >> 4);
    pre.width = 1 + ((data[0] >> 2) & 3) * 5;
  }
  pre.layout = (data[0] & 4) ? kiln::calib::Layout::nhwc : kiln::calib::Layout::nchw;
  pre.mean = {0.5f};
  pre.std = {0.25f};
  kiln::calib::FloatTensor t;
  std::string error;
  kiln::calib::decode_image(data + 1, size - 1, pre, &t, &error);
  return 0;
}
