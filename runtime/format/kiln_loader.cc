// Loading a .kiln file: one read-only private mapping, verified, with every constant pointing into
// it. The mapping is released when the last tensor (or KilnFile) holding it goes away.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "kiln/format/kiln_file.h"
#include "kiln/runtime/q_blobs.h"
#include "kiln_decode.h"

namespace kiln {

bool is_kiln_file(const void* bytes, size_t size) {
  return size >= 8 && std::memcmp(static_cast<const char*>(bytes) + 4, "KILN", 4) == 0;
}

bool load_kiln_from_memory(const void* bytes, size_t size, std::shared_ptr<const void> owner, KilnFile* out,
                           std::string* error, const KilnLoadOptions& options) {
  // A .kiln file may hold a Q graph: make sure the runtime knows its ops before anyone creates a Model.
  if (!register_q_ops(error)) return false;
  const auto* p = static_cast<const uint8_t*>(bytes);
  if (p == nullptr) {
    *error = "invalid .kiln file: no bytes";
    return false;
  }
  // Tensors must be 64-byte aligned, and data_offset is a multiple of 64.
  if (reinterpret_cast<uintptr_t>(p) % kKilnAlignment != 0) {
    *error = "the .kiln bytes are not 64-byte aligned in memory (use load_kiln_copy)";
    return false;
  }
  detail::KilnContainer c;
  if (!detail::open_container(p, size, options, &c, error)) return false;
  if (!detail::read_graph(c, p, owner, out, error)) return false;
  out->file_size = size;
  out->storage = std::move(owner);
  out->bytes = p;
  return true;
}

bool load_kiln_copy(const void* bytes, size_t size, KilnFile* out, std::string* error,
                    const KilnLoadOptions& options) {
  const size_t rounded = (size + kKilnAlignment - 1) / kKilnAlignment * kKilnAlignment;
  void* copy = std::aligned_alloc(kKilnAlignment, rounded ? rounded : kKilnAlignment);
  if (copy == nullptr) {
    *error = "out of memory copying a .kiln file of " + std::to_string(size) + " bytes";
    return false;
  }
  std::shared_ptr<const void> owner(copy, [](const void* q) { std::free(const_cast<void*>(q)); });
  if (size) std::memcpy(copy, bytes, size);
  return load_kiln_from_memory(copy, size, std::move(owner), out, error, options);
}

bool load_kiln(const std::string& path, KilnFile* out, std::string* error, const KilnLoadOptions& options) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    *error = path + ": not a regular file";
    return false;
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    *error = path + ": invalid .kiln file: empty";
    return false;
  }
  int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
  // The checksum reads every page anyway; populating the mapping in one call is cheaper than
  // taking a fault per page.
  if (options.verify_checksum) flags |= MAP_POPULATE;
#endif
  void* map = ::mmap(nullptr, size, PROT_READ, flags, fd, 0);
  const int map_errno = errno;
  ::close(fd);  // the mapping keeps the file open
  if (map == MAP_FAILED) {
    *error = path + ": cannot map: " + std::strerror(map_errno);
    return false;
  }
  std::shared_ptr<const void> owner(map, [size](const void* q) { ::munmap(const_cast<void*>(q), size); });
  if (!load_kiln_from_memory(map, size, std::move(owner), out, error, options)) {
    *error = path + ": " + *error;
    return false;
  }
  return true;
}

}  // namespace kiln
