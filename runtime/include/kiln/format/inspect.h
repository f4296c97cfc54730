// `kiln inspect`: a listing of a loaded .kiln file: metadata, graph inputs and outputs, one entry per
// layer (op, bits, shapes, scales, parameters, bytes, kernel blobs, float or quantized) and totals
// (parameters, bytes by element type, blob bytes, file size). Text for people, JSON for programs.
#pragma once

#include <string>

#include "kiln/format/kiln_file.h"

namespace kiln {

// `label` names the file in the listing (usually its path).
std::string inspect_kiln(const KilnFile& file, const std::string& label, bool json);

}  // namespace kiln
