// The kiln CLI's subcommands. Each lives in its own cmd_<name>.cc and is listed in main.cc.
#pragma once

#include <string>

namespace kiln::cli {

struct Command {
  const char* name;
  const char* summary;  // one line for `kiln --help`
  int (*run)(int argc, char** argv);  // argv[0] is the subcommand's name
};

// Prints "kiln: error: <what> (<where>)" (or without the parenthesis when where is empty) to
// stderr and returns the exit status to use.
int fail(const std::string& what, const std::string& where = "");
// fail() for a data or model error whose message may start with the file it is about ("dir/a.npy:
// element 3 is NaN"): that file moves into the parenthesis instead of `where` (when it lies at or
// under `where`), so the path is named once.
int fail_file(const std::string& what, const std::string& where);

int run_info(int argc, char** argv);
int run_selfcheck(int argc, char** argv);
int run_run(int argc, char** argv);
int run_inspect(int argc, char** argv);
int run_quantize(int argc, char** argv);
int run_eval(int argc, char** argv);
int run_analyze(int argc, char** argv);
int run_bench(int argc, char** argv);

}  // namespace kiln::cli
