#include "file_io.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace kiln::calib::detail {

bool read_file(const std::string& path, std::vector<uint8_t>* out, std::string* error, size_t max_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    *error = path + ": not a regular file";
    return false;
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    *error = path + ": file too large";
    return false;
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  const size_t got = data.empty() ? 0 : std::fread(data.data(), 1, data.size(), f);
  const bool read_error = std::ferror(f) != 0;
  std::fclose(f);
  if (read_error || got != data.size()) {
    *error = path + ": read error";
    return false;
  }
  *out = std::move(data);
  return true;
}

bool write_file_atomic(const std::string& path, const void* data, size_t size, std::string* error) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) {
    *error = path + ": cannot create: " + std::strerror(errno);
    return false;
  }
  bool ok = size == 0 || std::fwrite(data, 1, size, f) == size;
  ok = std::fflush(f) == 0 && ok;
  ok = ::fsync(::fileno(f)) == 0 && ok;
  const int saved = errno;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    *error = path + ": write failed: " + std::strerror(saved);
    return false;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    *error = path + ": cannot rename into place: " + std::strerror(e);
    return false;
  }
  return true;
}

bool is_gzip(const uint8_t* bytes, size_t size) { return size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

bool gunzip(const uint8_t* bytes, size_t size, std::vector<uint8_t>* out, std::string* error, size_t max_bytes) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    *error = "zlib initialisation failed";
    return false;
  }
  std::vector<uint8_t> result;
  uint8_t chunk[1 << 16];
  size_t offset = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (zs.avail_in == 0) {
      if (offset >= size) break;
      const size_t n = std::min<size_t>(size - offset, 1u << 30);
      zs.next_in = const_cast<Bytef*>(bytes + offset);
      zs.avail_in = static_cast<uInt>(n);
      offset += n;
    }
    zs.next_out = chunk;
    zs.avail_out = sizeof(chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      *error = std::string("corrupt gzip data") + (zs.msg ? std::string(" (") + zs.msg + ")" : "");
      return false;
    }
    const size_t produced = sizeof(chunk) - zs.avail_out;
    if (result.size() + produced > max_bytes) {
      inflateEnd(&zs);
      *error = "gzip data inflates beyond the size limit";
      return false;
    }
    result.insert(result.end(), chunk, chunk + produced);
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    *error = "truncated gzip data";
    return false;
  }
  *out = std::move(result);
  return true;
}

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace kiln::calib::detail
