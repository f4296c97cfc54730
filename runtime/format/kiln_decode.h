// Internal: the steps of reading a .kiln buffer (kiln_container.cc, kiln_graph_reader.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kiln/format/kiln_file.h"

namespace kiln::fb {
struct Model;
}

namespace kiln::detail {

// Where the container checks found things.
struct KilnContainer {
  const fb::Model* root = nullptr;
  size_t flatbuffer_size = 0;
  size_t data_offset = 0;
  size_t data_size = 0;
  uint16_t major = 0, minor = 0;
};

// Trailer, checksum, identifier, format version, FlatBuffers Verifier, data-region bounds.
bool open_container(const uint8_t* bytes, size_t size, const KilnLoadOptions& options, KilnContainer* out,
                    std::string* error);

// kiln's own checks while building the graph, blobs and metadata. Tensors point into
// bytes + data_offset and hold `owner`.
bool read_graph(const KilnContainer& c, const uint8_t* bytes, const std::shared_ptr<const void>& owner,
                KilnFile* out, std::string* error);

}  // namespace kiln::detail
