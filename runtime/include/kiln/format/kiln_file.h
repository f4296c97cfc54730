// The .kiln model file: a graph (float, quantized or mixed) with its constants, per-node kernel blobs
// and metadata, laid out so that loading is one read-only mmap with no copy of any weight.
//
// File layout (all integers little-endian; schema: runtime/format/kiln.fbs):
//   [0, flatbuffer_size)            FlatBuffer, root kiln.fb.Model, identifier "KILN" at bytes 4..8
//   [flatbuffer_size, data_offset)  zero padding; data_offset = flatbuffer_size rounded up to 64
//   [data_offset, data_end)         the data region: every constant and kernel blob starts at a
//                                   multiple of 64 from data_offset (zero padding between them)
//   [data_end, data_end + 32)       trailer: u64 flatbuffer_size, u64 checksum, u64 reserved (0),
//                                   char[8] "KILNEND1"; checksum = XXH64 (seed 0) of every byte
//                                   before it: [0, data_end + 8), flatbuffer_size included
//
// Loading checks, in this order: size and trailer, checksum (unless turned off), the identifier, the
// format major version (an unknown major is refused with the versions named), the FlatBuffers
// Verifier, then kiln's own checks (see kiln_verify.cc): every data reference inside the region and
// 64-byte aligned with a size equal to shape x dtype (overflow-checked), enum values in range, value
// and node indices in range, unique value names, at most one producer per value, nodes in
// topological order, valid graph inputs/outputs and quantization parameters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/runtime/graph.h"

namespace kiln {

// The format version this build writes. It reads files with the same major and any minor.
constexpr uint16_t kKilnFormatMajor = 1;
constexpr uint16_t kKilnFormatMinor = 0;
constexpr size_t kKilnAlignment = 64;
constexpr size_t kKilnTrailerBytes = 32;
constexpr char kKilnTrailerMagic[9] = "KILNEND1";

struct KilnMetadata {
  std::string kiln_version;  // filled with this build's version on save when empty
  std::vector<uint8_t> source_model_sha256;  // 32 bytes (see sha256.h) or empty
  std::string source_model_name;
  std::string calibration_method;  // empty for a float graph
  std::map<std::string, std::string> calibration_settings;
  int weight_bits = 0;  // the plan's defaults; 0 = float
  int activation_bits = 0;
  std::map<std::string, std::string> preprocessing;  // "mean", "std", "size", "layout", ...
  std::map<std::string, std::string> extra;
};

// KernelBlob lives in graph.h (Node::blobs). NodeBlobs is the older per-node-index form, kept as a
// compatibility path: KilnSaveOptions::blobs, when set, supplies node i's blobs where (*blobs)[i] is
// non-empty (otherwise Node::blobs is written); KilnFile::blobs mirrors the loaded Node::blobs.
using NodeBlobs = std::vector<std::vector<KernelBlob>>;

struct KilnSaveOptions {
  const NodeBlobs* blobs = nullptr;
  // fsync the temporary file (and its folder after the rename) so the model survives a power
  // loss; off by default because it costs tens of milliseconds on slow storage.
  bool fsync = false;
};

struct KilnLoadOptions {
  // Hash the whole file before trusting it (a few GB/s; catches any flipped bit). Turning it off
  // keeps every structural check and lets an mmapped file page in lazily.
  bool verify_checksum = true;
};

// A loaded (or to-be-saved) .kiln file. Constant tensors and blob data point into `storage`.
struct KilnFile {
  Graph graph;
  KilnMetadata metadata;
  NodeBlobs blobs;  // one entry per node: the same blobs as graph.nodes[i].blobs (shared storage)
  uint16_t format_major = 0, format_minor = 0;
  size_t file_size = 0;
  size_t data_offset = 0;
  size_t data_size = 0;
  // What keeps the bytes alive (the mapping, or the caller's owner), and where they are.
  std::shared_ptr<const void> storage;
  const uint8_t* bytes = nullptr;
};

// Serialises to the exact bytes of a .kiln file. False with a message for a graph that cannot be
// written (dead nodes, a constant without data, a value index out of range, ...).
bool serialize_kiln(const Graph& graph, const KilnMetadata& metadata, std::string* out, std::string* error,
                    const KilnSaveOptions& options = {});

// Writes `path` atomically: the bytes go to a temporary file in the same folder that is then
// renamed over `path`, so an interrupted save never leaves a half-written model.
bool save_kiln(const Graph& graph, const KilnMetadata& metadata, const std::string& path, std::string* error,
               const KilnSaveOptions& options = {});

// Maps `path` read-only (MAP_PRIVATE), verifies it and builds the graph; constants point into the
// mapping, which lives as long as any tensor of the result. Errors read "<path>: <what>".
bool load_kiln(const std::string& path, KilnFile* out, std::string* error, const KilnLoadOptions& options = {});

// Verifies and loads bytes in memory without copying them: constants point into [bytes, bytes+size).
// `owner` is stored in every constant and blob tensor and must keep the bytes alive (pass an empty
// pointer only when the caller guarantees the bytes outlive the returned graph and everything built
// from it). `bytes` must be 8-byte aligned and the data region 64-byte aligned in memory.
bool load_kiln_from_memory(const void* bytes, size_t size, std::shared_ptr<const void> owner, KilnFile* out,
                           std::string* error, const KilnLoadOptions& options = {});

// Copies the bytes into 64-byte aligned storage first (for callers that free their buffer; this
// is what the C API's load-from-memory needs), then loads as above.
bool load_kiln_copy(const void* bytes, size_t size, KilnFile* out, std::string* error,
                    const KilnLoadOptions& options = {});

// True if the bytes start like a .kiln file (FlatBuffers identifier "KILN"); says nothing more.
bool is_kiln_file(const void* bytes, size_t size);

// XXH64 (seed 0), the trailer's checksum.
uint64_t kiln_checksum(const void* data, size_t size);

}  // namespace kiln
