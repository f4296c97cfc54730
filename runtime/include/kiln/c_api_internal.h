// How host libraries (kiln_onnx) hand a model they built to the C API. Not part of the C API.
#pragma once

#include <memory>
#include <string>

#include "kiln/kiln.h"
#include "kiln/runtime/model.h"

namespace kiln {
// Wraps a model as a C handle.
kiln_model* wrap_model(std::shared_ptr<const Model> model);
// Records a failure for kiln_last_error() and returns KILN_ERROR.
kiln_status set_last_error(const std::string& message);
}  // namespace kiln
