#include <cstdio>
#include <cstring>
#include <iterator>

#include "command.h"

namespace kiln::cli {
namespace {

const Command kCommands[] = {
    {"info", "version, ISAs compiled in, this CPU's features and the kernel path chosen", run_info},
    {"selfcheck", "run every kernel path this CPU supports against the reference", run_selfcheck},
    {"run", "run a model (.onnx or kiln graph) on images or .npy tensors; top-K, outputs to .npy", run_run},
    {"inspect", "layers, bits, shapes, scales and sizes of a .kiln model (--json for JSON)", run_inspect},
    {"quantize", "float ONNX model + calibration samples -> deployable int8/int4 .kiln", run_quantize},
    {"eval", "top-1/top-5 accuracy of a model (.onnx, .kiln, or its QFloat simulation)", run_eval},
    {"analyze", "per-layer SQNR/cosine of quantized vs float activations, worst first", run_analyze},
    {"bench", "latency (median, p90) and size per bit-width; per-layer times", run_bench},
};

void print_help() {
  std::printf(
      "kiln: integer inference runtime with a calibrator built in\n\n"
      "usage: kiln <command> [options]   (kiln <command> --help for its options)\n\ncommands:\n");
  for (const Command& c : kCommands) std::printf("  %-10s %s\n", c.name, c.summary);
  std::printf(
      "\nenvironment:\n"
      "  KILN_ISA=ref|avx2|avx512vnni|neondot|i8mm   force a kernel path\n"
      "\nexamples:\n"
      "  kiln info\n"
      "  KILN_ISA=ref kiln selfcheck\n"
      "  kiln run model.onnx --input image.jpg --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225\n"
      "  kiln quantize model.onnx --calib train-images-idx3-ubyte.gz --gray --mean 0.286 --std 0.353 \\\n"
      "      --method percentile -o model.kiln\n"
      "  kiln eval model.kiln --data t10k-images-idx3-ubyte.gz --labels t10k-labels-idx1-ubyte.gz\n"
      "  kiln analyze model.onnx model.kiln --data train-images-idx3-ubyte.gz --top 10\n"
      "  kiln bench model.onnx --calib train-images-idx3-ubyte.gz --bits fp32,w8a8,w4a8 --layers\n");
}

}  // namespace

int fail(const std::string& what, const std::string& where) {
  if (where.empty()) {
    std::fprintf(stderr, "kiln: error: %s\n", what.c_str());
  } else {
    std::fprintf(stderr, "kiln: error: %s (%s)\n", what.c_str(), where.c_str());
  }
  return 1;
}

int fail_file(const std::string& what, const std::string& where) {
  if (!where.empty() && what.rfind(where, 0) == 0) {
    const size_t colon = what.find(": ", where.size());
    if (colon != std::string::npos && what.find(' ', where.size()) > colon) {
      return fail(what.substr(colon + 2), what.substr(0, colon));
    }
  }
  return fail(what, where);
}

}  // namespace kiln::cli

int main(int argc, char** argv) {
  using namespace kiln::cli;
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    print_help();
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands) {
    if (!std::strcmp(argv[1], c.name)) return c.run(argc - 1, argv + 1);
  }
  return fail(std::string("unknown command '") + argv[1] + "'; see kiln --help");
}
