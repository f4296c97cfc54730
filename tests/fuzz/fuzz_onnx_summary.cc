// libFuzzer target: arbitrary bytes through the ONNX file summary must never crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/onnx/model_summary.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::onnx::ModelSummary s;
  std::string error;
  kiln::onnx::summarize_model(data, size, &s, &error);
  return 0;
}
