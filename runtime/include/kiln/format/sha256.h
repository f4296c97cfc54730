// SHA-256 (FIPS 180-4), self-contained: the .kiln metadata records the hash of the source model.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace kiln {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  // The digest; the object must not be updated afterwards.
  std::array<uint8_t, 32> finish();

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buffered_ = 0;
  uint64_t total_ = 0;
};

std::array<uint8_t, 32> sha256(const void* data, size_t size);
// Lower-case hex of any bytes ("" for none).
std::string hex_string(const uint8_t* data, size_t size);
// Hashes a whole file. False with a message if it cannot be read.
bool sha256_file(const std::string& path, std::array<uint8_t, 32>* out, std::string* error);

}  // namespace kiln
