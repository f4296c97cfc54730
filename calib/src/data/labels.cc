#include "kiln/calib/data/labels.h"

#include <cstdlib>

#include "file_io.h"
#include "kiln/calib/data/array.h"
#include "kiln/calib/data/idx.h"

namespace kiln::calib {

bool parse_label_text(const std::string& text, std::vector<int64_t>* out, std::string* error) {
  std::vector<int64_t> labels;
  size_t start = 0, line = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line;
    std::string s = text.substr(start, end - start);
    start = end + 1;
    while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
    size_t first = s.find_first_not_of(" \t");
    if (first == std::string::npos || s[first] == '#') continue;
    s = s.substr(first);
    char* stop = nullptr;
    const long long v = std::strtoll(s.c_str(), &stop, 10);
    if (stop != s.c_str() + s.size() || v < 0 || s.size() > 18) {
      *error = "line " + std::to_string(line) + ": '" + s.substr(0, 40) + "' is not a class index";
      return false;
    }
    labels.push_back(v);
  }
  *out = std::move(labels);
  return true;
}

bool read_labels(const std::string& path, std::vector<int64_t>* out, std::string* error, int64_t max_classes) {
  std::vector<uint8_t> bytes;
  if (!detail::read_file(path, &bytes, error, size_t{1} << 31)) return false;
  const bool looks_idx = detail::is_gzip(bytes.data(), bytes.size()) ||
                         (bytes.size() >= 4 && bytes[0] == 0 && bytes[1] == 0);
  std::vector<int64_t> labels;
  if (looks_idx) {
    if (!read_idx_labels(path, &labels, error, max_classes)) return false;
  } else {
    if (!parse_label_text(std::string(bytes.begin(), bytes.end()), &labels, error)) {
      *error = path + ": " + *error;
      return false;
    }
    for (size_t i = 0; i < labels.size(); ++i) {
      if (max_classes > 0 && labels[i] >= max_classes) {
        *error = path + ": label " + std::to_string(i) + " is " + std::to_string(labels[i]) +
                 ", but the model has " + std::to_string(max_classes) + " classes";
        return false;
      }
    }
  }
  if (labels.empty()) {
    *error = path + ": no labels";
    return false;
  }
  *out = std::move(labels);
  return true;
}

}  // namespace kiln::calib
