// libFuzzer target: arbitrary bytes through the ONNX importer and, when it accepts them, through
// canonicalisation, planning and one run. Nothing may crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/onnx/importer.h"
#include "kiln/runtime/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::Graph g;
  std::string error;
  if (!kiln::onnx::import_model(data, size, &g, &error)) return 0;
  auto model = kiln::Model::create(std::move(g), &error);
  if (!model) return 0;
  kiln::Session s(model);
  for (int v : model->graph().inputs) {
    kiln::Shape shape = model->graph().values[v].shape;
    size_t n = 1;
    for (int64_t& d : shape) {
      if (d < 0) d = 1;
      n *= static_cast<size_t>(d);
    }
    if (n > (1u << 16)) return 0;  // keep runs small
    s.set_input(model->graph().values[v].name, kiln::Tensor(model->graph().values[v].dtype, shape));
  }
  s.run();
  return 0;
}
