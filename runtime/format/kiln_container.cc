// The container-level checks of a .kiln buffer: everything up to and including the FlatBuffers
// Verifier, so that read_graph() may then walk the FlatBuffer freely.
#include <bit>
#include <cstring>

#include "kiln_decode.h"
#include "kiln_generated.h"

namespace kiln::detail {
namespace {

// Every integer in the file is little-endian and read in place (zero copy).
static_assert(std::endian::native == std::endian::little, "the .kiln loader needs a little-endian host");

uint64_t get64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

bool fail(std::string* error, const std::string& what) {
  *error = "invalid .kiln file: " + what;
  return false;
}

// Reads format_major/minor after verifying only the root table's header and those two fields, so
// that a file of another major version gets a message naming versions, not a verifier failure.
bool read_version(const uint8_t* bytes, size_t fb_size, uint16_t* major, uint16_t* minor) {
  flatbuffers::Verifier v(bytes, fb_size);
  if (!v.VerifyOffset(0)) return false;
  const auto* t = flatbuffers::GetRoot<flatbuffers::Table>(bytes);
  if (!t->VerifyTableStart(v) || !t->VerifyField<uint16_t>(v, fb::Model::VT_FORMAT_MAJOR, 2) ||
      !t->VerifyField<uint16_t>(v, fb::Model::VT_FORMAT_MINOR, 2)) {
    return false;
  }
  *major = t->GetField<uint16_t>(fb::Model::VT_FORMAT_MAJOR, 0);
  *minor = t->GetField<uint16_t>(fb::Model::VT_FORMAT_MINOR, 0);
  return true;
}

}  // namespace

bool open_container(const uint8_t* bytes, size_t size, const KilnLoadOptions& options, KilnContainer* out,
                    std::string* error) {
  constexpr size_t kMinSize = 8 + kKilnTrailerBytes;
  if (size < kMinSize) return fail(error, "too small (" + std::to_string(size) + " bytes): truncated or not a model");
  if (!is_kiln_file(bytes, size)) return fail(error, "no \"KILN\" identifier at bytes 4..8 (not a .kiln file)");
  const uint8_t* trailer = bytes + size - kKilnTrailerBytes;
  if (std::memcmp(trailer + 24, kKilnTrailerMagic, 8) != 0) {
    return fail(error, "no \"KILNEND1\" trailer at the end (truncated or damaged)");
  }
  const size_t data_end = size - kKilnTrailerBytes;
  if (options.verify_checksum) {
    const uint64_t want = get64(trailer + 8);
    const uint64_t got = kiln_checksum(bytes, data_end + 8);
    if (want != got) return fail(error, "checksum mismatch (the file is damaged)");
  }
  if (get64(trailer + 16) != 0) return fail(error, "trailer's reserved field is not zero (damaged or a newer file)");
  const uint64_t fb_size = get64(trailer);
  if (fb_size < 8 || fb_size > data_end || fb_size >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return fail(error, "trailer gives a FlatBuffer size of " + std::to_string(fb_size) + " bytes, outside the file");
  }
  uint16_t major = 0, minor = 0;
  if (!read_version(bytes, fb_size, &major, &minor)) return fail(error, "unreadable root table (no format version)");
  if (major != kKilnFormatMajor) {
    return fail(error, "format version " + std::to_string(major) + "." + std::to_string(minor) +
                           " is not supported (this kiln reads " + std::to_string(kKilnFormatMajor) + ".x)");
  }
  flatbuffers::Verifier verifier(bytes, fb_size);
  if (!fb::VerifyModelBuffer(verifier)) return fail(error, "the FlatBuffers verifier rejected the model table");
  const fb::Model* root = fb::GetModel(bytes);
  const uint64_t data_offset = root->data_offset();
  const uint64_t data_size = root->data_size();
  if (data_offset % kKilnAlignment != 0 || data_offset < fb_size || data_offset > data_end ||
      data_size != data_end - data_offset) {
    return fail(error, "data region [" + std::to_string(data_offset) + ", +" + std::to_string(data_size) +
                           ") does not fit the file (" + std::to_string(size) +
                           " bytes) or is not 64-byte aligned");
  }
  out->root = root;
  out->flatbuffer_size = fb_size;
  out->data_offset = data_offset;
  out->data_size = data_size;
  out->major = major;
  out->minor = minor;
  return true;
}

}  // namespace kiln::detail
