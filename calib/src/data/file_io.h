// Small file helpers shared by the data readers (internal to kiln_calib_data).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::calib::detail {

// Reads a whole regular file; refuses anything larger than max_bytes.
bool read_file(const std::string& path, std::vector<uint8_t>* out, std::string* error,
               size_t max_bytes = size_t{1} << 32);
// Writes to "<path>.tmp.<pid>" in the same folder, flushes, then renames over path. On failure the
// temporary file is removed and path is untouched.
bool write_file_atomic(const std::string& path, const void* data, size_t size, std::string* error);
bool is_gzip(const uint8_t* bytes, size_t size);
// Inflates a gzip stream in memory; refuses output larger than max_bytes.
bool gunzip(const uint8_t* bytes, size_t size, std::vector<uint8_t>* out, std::string* error,
            size_t max_bytes = size_t{1} << 32);
// "a/b/c.npy" -> "c.npy" for messages.
std::string base_name(const std::string& path);

}  // namespace kiln::calib::detail
