// libFuzzer: conv_view, the parser of packed-convolution blobs read from .kiln files. Each input
// is either a raw blob (when it starts with the magic) or a recipe: a valid blob of one of a few
// small convolutions, packed here, then byte edits (offset, xor) and optionally the header checksum
// recomputed (so edits reach the checks behind it) and a truncation. Whatever conv_view accepts
// must run without a fault and serialise back to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "../../kernels/conv/conv_blob.h"  // the header layout, to re-seal edited headers
#include "kiln/kernels/conv.h"
#include "kiln/kernels/isa.h"

namespace kk = kiln::kernels;

namespace {

kk::ConvShape shape_for(uint8_t pick) {
  kk::ConvShape s;
  s.in_h = 7, s.in_w = 6, s.kernel_h = s.kernel_w = 3, s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
  switch (pick % 5) {
    case 0: s.in_c = s.out_c = s.groups = 20; break;                      // depthwise
    case 1: s.in_c = 12, s.out_c = 17, s.kernel_h = s.kernel_w = 1;       // 1x1
            s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 0; s.stride_h = s.stride_w = 1 + pick / 5 % 2; break;
    case 2: s.in_c = 8, s.out_c = 12; break;                              // igemm
    case 3: s.in_c = 8, s.out_c = 12, s.groups = 4; break;                // grouped
    default: s.in_c = 3, s.out_c = 16, s.stride_h = s.stride_w = 2; break;  // first layer
  }
  return s;
}

std::vector<uint8_t> packed_blob(uint8_t pick, kk::Isa isa) {
  const kk::ConvShape s = shape_for(pick);
  const int bits = pick & 0x80 ? 4 : 8;
  std::vector<int8_t> w(static_cast<size_t>(s.out_c) * s.taps() * s.group_in_c());
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>(static_cast<int>(i * 37 % 15) - 7);
  std::vector<int32_t> bias(s.out_c, 1000);
  std::vector<float> mult(s.out_c, 0.01f);
  kk::PackedConv cv;
  std::vector<uint8_t> blob;
  if (kk::conv_pack(s, w.data(), bits, bias.data(), mult.data(), 120, isa, &cv).empty()) kk::conv_serialize(cv, &blob);
  return blob;
}

void run_and_reserialise(const kk::PackedConv& cv, const uint8_t* blob, size_t size) {
  const kk::ConvShape& s = cv.shape;
  const size_t in_size = static_cast<size_t>(s.batch) * s.in_h * s.in_w * s.in_c;
  const size_t out_size = static_cast<size_t>(s.batch) * s.out_h() * s.out_w() * s.out_c;
  if (in_size <= (1u << 20) && out_size <= (1u << 20)) {
    std::vector<uint8_t> in(in_size), out(out_size);
    for (size_t i = 0; i < in_size; ++i) in[i] = static_cast<uint8_t>(i * 131);
    kk::ConvWorkspace ws;
    kk::RequantParams p;
    if (!kk::conv_run(cv, ws, in.data(), out.data(), p, nullptr).empty()) __builtin_trap();
  }
  std::vector<uint8_t> again;
  if (!kk::conv_serialize(cv, &again).empty() || again.size() != size || std::memcmp(again.data(), blob, size) != 0) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const kk::IsaChoice choice = kk::choose_isa();
  const kk::Isa isa = choice.ok ? choice.isa : kk::Isa::ref;
  std::vector<uint8_t> blob;
  if (size >= 8 && std::memcmp(data, "KILNCONV", 8) == 0) {
    blob.assign(data, data + size);
  } else if (size >= 2) {
    blob = packed_blob(data[0], isa);
    if (blob.empty()) return 0;
    const uint8_t flags = data[1];
    // Edits: 3 bytes each, a 16-bit offset (scaled over the blob) and an xor mask.
    for (size_t i = 2; i + 3 <= size; i += 3) {
      const size_t at = (static_cast<size_t>(data[i]) | static_cast<size_t>(data[i + 1]) << 8) % blob.size();
      blob[at] ^= data[i + 2];
    }
    if (flags & 1) {
      kk::conv_detail::ConvBlobHeader h;
      std::memcpy(&h, blob.data(), sizeof(h));
      h.checksum = kk::conv_detail::conv_header_checksum(h);
      std::memcpy(blob.data(), &h, sizeof(h));
    }
    if (flags & 2) blob.resize(blob.size() * (flags >> 2) / 64);
  } else {
    return 0;
  }
  // A mapped file is 64-byte aligned; so is this copy.
  auto storage = std::shared_ptr<uint8_t[]>(new (std::align_val_t{64}) uint8_t[blob.size() + 1],
                                            [](uint8_t* p) { ::operator delete[](p, std::align_val_t{64}); });
  if (!blob.empty()) std::memcpy(storage.get(), blob.data(), blob.size());
  kk::PackedConv cv;
  if (kk::conv_view(storage.get(), blob.size(), storage, isa, &cv).empty()) run_and_reserialise(cv, storage.get(), blob.size());
  return 0;
}
