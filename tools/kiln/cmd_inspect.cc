// `kiln inspect FILE.kiln [--json] [--no-checksum]`: what a .kiln file holds (see kiln/format/inspect.h).
#include <cstdio>
#include <cstring>
#include <string>

#include "command.h"
#include "kiln/format/inspect.h"
#include "kiln/format/kiln_file.h"

namespace kiln::cli {

int run_inspect(int argc, char** argv) {
  std::string path;
  bool json = false;
  KilnLoadOptions options;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf(
          "usage: kiln inspect FILE.kiln [--json] [--no-checksum]\n\n"
          "Lists a .kiln model: its metadata (kiln version, source model hash, calibration method and\n"
          "settings, bit widths, preprocessing), graph inputs and outputs, one line per layer (op, weight\n"
          "and activation bits, output shape and scales, parameters, bytes, kernel blobs; layers kept\n"
          "float are marked 'float') and totals. The file is fully verified first.\n\n"
          "  --json         machine-readable output (one JSON object)\n"
          "  --no-checksum  skip the whole-file checksum (structure is still verified)\n");
      return 0;
    }
    if (!std::strcmp(argv[i], "--json")) {
      json = true;
    } else if (!std::strcmp(argv[i], "--no-checksum")) {
      options.verify_checksum = false;
    } else if (argv[i][0] == '-' || !path.empty()) {
      return fail(std::string("unexpected argument '") + argv[i] + "'", "kiln inspect");
    } else {
      path = argv[i];
    }
  }
  if (path.empty()) return fail("no file given (usage: kiln inspect FILE.kiln [--json])", "kiln inspect");
  KilnFile file;
  std::string error;
  if (!load_kiln(path, &file, &error, options)) {
    // load_kiln's messages start with the path; the CLI names it in parentheses at the end.
    if (error.rfind(path + ": ", 0) == 0) error.erase(0, path.size() + 2);
    return fail(error, path);
  }
  const std::string out = inspect_kiln(file, path, json);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace kiln::cli
