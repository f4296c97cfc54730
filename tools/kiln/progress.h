// Progress reporting for long commands: a redrawn bar when stderr is a terminal, otherwise plain
// lines (about every quarter of each stage), so logs and CI output stay readable.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace kiln::cli {

class Progress {
 public:
  explicit Progress(bool quiet = false);
  ~Progress();
  // `detail` (a loss, say) is shown after the bar and is not part of the stage's identity.
  void update(const std::string& stage, size_t done, size_t total, const std::string& detail = "");
  void finish();  // ends a bar line, if one is drawn

 private:
  bool quiet_;
  bool tty_;
  std::string stage_;
  int last_decile_ = -1;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace kiln::cli
