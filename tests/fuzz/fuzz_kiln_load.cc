// libFuzzer target for the .kiln loader. Two ways in, both must never crash, hang or leak:
//  1. the input as a whole file, loaded with and without the checksum;
//  2. the input as edits (position, xor mask) of a valid built-in file, loaded without the
//     checksum, so the fuzzer reaches the structural checks without having to find a valid file.
// Anything accepted must also survive `inspect` and a re-save.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "kiln/format/inspect.h"
#include "kiln/format/kiln_file.h"

namespace {

const std::string& seed_file() {
  static const std::string bytes = [] {
    kiln::Graph g;
    kiln::Value x;
    x.name = "x";
    x.shape = {kiln::kSymbolicDim, 4};
    x.shape_known = true;
    x.quant.scales = {0.5f};
    x.quant.zero_points = {3};
    const int in = g.add_value(x);
    kiln::Tensor w(kiln::DType::s8, {4, 4});
    for (int i = 0; i < 16; ++i) w.mutable_data<int8_t>()[i] = static_cast<int8_t>(i - 8);
    const int wi = g.add_constant("w", w);
    g.values[wi].quant.scales = {0.1f, 0.2f, 0.3f, 0.4f};
    g.values[wi].quant.axis = 0;
    kiln::Value y;
    y.name = "y";
    const int yo = g.add_value(y);
    kiln::Node n;
    n.name = "mm";
    n.op = "MatMul";
    n.inputs = {in, wi, -1};
    n.outputs = {yo};
    n.attrs["a"] = kiln::Attr::of_ints({1, 2});
    n.attrs["s"] = kiln::Attr::of_string("x");
    g.nodes.push_back(n);
    g.inputs = {in};
    g.outputs = {yo};
    kiln::NodeBlobs blobs(1);
    kiln::KernelBlob b;
    b.kind = "packed";
    b.data = kiln::Tensor(kiln::DType::u8, {70});
    blobs[0].push_back(b);
    kiln::KilnSaveOptions o;
    o.blobs = &blobs;
    kiln::KilnMetadata m;
    m.preprocessing["mean"] = "0.5";
    std::string out, error;
    kiln::serialize_kiln(g, m, &out, &error, o);
    return out;
  }();
  return bytes;
}

void try_load(const uint8_t* data, size_t size, bool checksum) {
  kiln::KilnFile f;
  std::string error;
  kiln::KilnLoadOptions o;
  o.verify_checksum = checksum;
  if (!kiln::load_kiln_copy(data, size, &f, &error, o)) return;
  (void)kiln::inspect_kiln(f, "fuzz", true);
  (void)kiln::inspect_kiln(f, "fuzz", false);
  std::string again;
  kiln::KilnSaveOptions so;
  so.blobs = &f.blobs;
  if (!kiln::serialize_kiln(f.graph, f.metadata, &again, &error, so)) __builtin_trap();  // loaded => savable
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try_load(data, size, true);
  try_load(data, size, false);
  // Edits: each 3 bytes are (position low, position high, xor mask); a leading 0xFF byte truncates.
  std::string file = seed_file();
  size_t i = 0;
  if (size > 0 && data[0] == 0xFF && size > 1) {
    file.resize(file.size() * data[1] / 256);
    i = 2;
  }
  for (; i + 3 <= size; i += 3) {
    if (file.empty()) break;
    const size_t pos = (data[i] | size_t{data[i + 1]} << 8) % file.size();
    file[pos] = static_cast<char>(file[pos] ^ data[i + 2]);
  }
  try_load(reinterpret_cast<const uint8_t*>(file.data()), file.size(), false);
  return 0;
}
