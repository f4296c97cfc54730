// Ground-truth labels for evaluation: an IDX label file, or a text file with one class index per
// line (blank lines and lines starting with '#' ignored), in the sorted order of the samples.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::calib {

// Detects the format (IDX magic, gzipped or not, else text). Labels must be in [0, max_classes)
// when max_classes > 0.
bool read_labels(const std::string& path, std::vector<int64_t>* out, std::string* error, int64_t max_classes = 0);
bool parse_label_text(const std::string& text, std::vector<int64_t>* out, std::string* error);

}  // namespace kiln::calib
