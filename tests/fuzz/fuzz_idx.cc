// libFuzzer: the IDX parser, with gzip inflation when the input starts with the gzip magic, and the
// label reader's text parser.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/calib/data/idx.h"
#include "kiln/calib/data/labels.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::calib::TypedArray a;
  std::string error;
  if (kiln::calib::decode_idx(data, size, &a, &error)) {
    kiln::calib::FloatTensor t;
    kiln::calib::to_float(a, &t, &error);
  }
  std::vector<int64_t> labels;
  kiln::calib::parse_label_text(std::string(reinterpret_cast<const char*>(data), size), &labels, &error);
  return 0;
}
