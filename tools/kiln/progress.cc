#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace kiln::cli {

Progress::Progress(bool quiet)
    : quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { finish(); }

void Progress::update(const std::string& stage, size_t done, size_t total, const std::string& detail) {
  if (quiet_) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int decile = total ? static_cast<int>(done * 4 / total) : 4;  // quarters, for plain lines
  if (stage != stage_) {
    if (drawn_) std::fputc('\n', stderr);  // keep the finished stage's bar
    drawn_ = false;
    last_decile_ = -1;
    stage_ = stage;
  }
  if (tty_) {
    const int width = 30;
    const int filled = total ? static_cast<int>(done * width / total) : width;
    std::fprintf(stderr, "\r%-10s [%.*s%*s] %zu/%zu  %.1fs %s ", stage.c_str(), filled,
                 "##############################", width - filled, "", done, total, secs, detail.c_str());
    std::fflush(stderr);
    drawn_ = true;
  } else if (decile > last_decile_) {
    std::fprintf(stderr, "%s: %zu/%zu (%.1fs)%s%s\n", stage.c_str(), done, total, secs, detail.empty() ? "" : " ",
                 detail.c_str());
  }
  last_decile_ = decile;
}

void Progress::finish() {
  if (drawn_) std::fputc('\n', stderr);
  drawn_ = false;
}

}  // namespace kiln::cli
