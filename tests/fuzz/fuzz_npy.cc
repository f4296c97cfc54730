// libFuzzer: the .npy parser (header dictionary, dtypes, orders, sizes) and float conversion.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/calib/data/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::calib::TypedArray a;
  std::string error;
  if (kiln::calib::parse_npy(data, size, &a, &error)) {
    kiln::calib::FloatTensor t;
    kiln::calib::to_float(a, &t, &error);
    // What parses must re-encode to something that parses to the same array.
    const std::vector<uint8_t> again = kiln::calib::encode_npy(a);
    kiln::calib::TypedArray b;
    if (!kiln::calib::parse_npy(again.data(), again.size(), &b, &error) || b.bytes != a.bytes || b.shape != a.shape) {
      __builtin_trap();
    }
  }
  return 0;
}
