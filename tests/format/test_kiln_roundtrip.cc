// Graph -> .kiln -> graph: everything survives, constants are bitwise equal and point into the
// file's mapping (zero copy), the file is deterministic, saving is atomic.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "kiln/format/kiln_file.h"
#include "kiln_test_util.h"

namespace kiln {
namespace {

std::string temp_dir() {
  const auto dir = std::filesystem::temp_directory_path() / ("kiln_format_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

bool inside(const void* p, size_t n, const KilnFile& f) {
  const auto* b = static_cast<const uint8_t*>(p);
  return b >= f.bytes + f.data_offset && b + n <= f.bytes + f.data_offset + f.data_size;
}

TEST(KilnRoundTrip, FileIsMappedAndConstantsPointIntoIt) {
  const Graph g = test::sample_graph();
  const NodeBlobs blobs = test::sample_blobs();
  const std::string path = temp_dir() + "/sample.kiln";
  std::string error;
  KilnSaveOptions so;
  so.blobs = &blobs;
  so.fsync = true;
  ASSERT_TRUE(save_kiln(g, test::sample_metadata(), path, &error, so)) << error;

  KilnFile f;
  ASSERT_TRUE(load_kiln(path, &f, &error)) << error;
  EXPECT_EQ(test::graph_difference(g, f.graph), "");
  EXPECT_EQ(f.format_major, kKilnFormatMajor);
  EXPECT_EQ(f.format_minor, kKilnFormatMinor);
  EXPECT_EQ(f.file_size, std::filesystem::file_size(path));
  size_t constants = 0;
  for (const Value& v : f.graph.values) {
    if (!v.constant) continue;
    ++constants;
    // Zero copy: the tensor's bytes are the mapping's bytes, 64-byte aligned.
    EXPECT_TRUE(inside(v.constant->raw(), v.constant->bytes(), f)) << v.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.constant->raw()) % 64, 0u) << v.name;
  }
  EXPECT_EQ(constants, 6u);
  ASSERT_EQ(f.blobs.size(), 3u);
  ASSERT_EQ(f.blobs[0].size(), 2u);
  EXPECT_TRUE(f.blobs[1].empty());
  ASSERT_EQ(f.blobs[2].size(), 1u);
  for (size_t n = 0; n < 3; ++n) {
    for (size_t k = 0; k < f.blobs[n].size(); ++k) {
      const KernelBlob &a = blobs[n][k], &b = f.blobs[n][k];
      EXPECT_EQ(a.kind, b.kind);
      EXPECT_EQ(a.isa, b.isa);
      EXPECT_EQ(a.mr, b.mr);
      EXPECT_EQ(a.nr, b.nr);
      EXPECT_EQ(a.kr, b.kr);
      EXPECT_EQ(a.config, b.config);
      ASSERT_EQ(a.data.bytes(), b.data.bytes());
      EXPECT_EQ(std::memcmp(a.data.raw(), b.data.raw(), a.data.bytes()), 0);
      EXPECT_TRUE(inside(b.data.raw(), b.data.bytes(), f));
      EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data.raw()) % 64, 0u);
    }
  }
  // The mapping outlives the KilnFile while a tensor holds it.
  Tensor keep = *f.graph.values[1].constant;
  std::vector<uint8_t> expect(static_cast<const uint8_t*>(keep.raw()), static_cast<const uint8_t*>(keep.raw()) + keep.bytes());
  f = KilnFile();
  EXPECT_EQ(std::memcmp(keep.raw(), expect.data(), expect.size()), 0);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

// Blobs on the nodes (Node::blobs) are written and come back on the nodes, pointing into the
// mapping; the per-index NodeBlobs option, where given for a node, takes its place.
TEST(KilnRoundTrip, NodeBlobsTravelWithTheNodes) {
  Graph g = test::sample_graph();
  const NodeBlobs sample = test::sample_blobs();
  ASSERT_GE(g.nodes.size(), 3u);
  g.nodes[0].blobs = sample[0];
  g.nodes[2].blobs = sample[2];
  const std::string path = temp_dir() + "/node_blobs.kiln";
  std::string error;
  ASSERT_TRUE(save_kiln(g, {}, path, &error)) << error;
  KilnFile f;
  ASSERT_TRUE(load_kiln(path, &f, &error)) << error;
  ASSERT_EQ(f.graph.nodes[0].blobs.size(), sample[0].size());
  EXPECT_TRUE(f.graph.nodes[1].blobs.empty());
  ASSERT_EQ(f.graph.nodes[2].blobs.size(), sample[2].size());
  for (size_t n : {0u, 2u}) {
    for (size_t k = 0; k < sample[n].size(); ++k) {
      const KernelBlob& a = sample[n][k];
      const KernelBlob& b = f.graph.nodes[n].blobs[k];
      EXPECT_EQ(a.kind, b.kind);
      EXPECT_EQ(a.isa, b.isa);
      EXPECT_EQ(a.config, b.config);
      EXPECT_EQ(a.mr, b.mr);
      ASSERT_EQ(a.data.bytes(), b.data.bytes());
      EXPECT_EQ(std::memcmp(a.data.raw(), b.data.raw(), a.data.bytes()), 0);
      EXPECT_TRUE(inside(b.data.raw(), b.data.bytes(), f));
      EXPECT_EQ(f.blobs[n][k].data.raw(), b.data.raw());  // the compatibility view shares the bytes
    }
  }
  // NodeBlobs given for node 0 replace its own blobs; node 2 keeps its own.
  NodeBlobs over(1);
  over[0].push_back(sample[2][0]);
  KilnSaveOptions so;
  so.blobs = &over;
  ASSERT_TRUE(save_kiln(g, {}, path, &error, so)) << error;
  KilnFile f2;
  ASSERT_TRUE(load_kiln(path, &f2, &error)) << error;
  ASSERT_EQ(f2.graph.nodes[0].blobs.size(), 1u);
  EXPECT_EQ(f2.graph.nodes[0].blobs[0].kind, sample[2][0].kind);
  EXPECT_EQ(f2.graph.nodes[2].blobs.size(), sample[2].size());
  std::filesystem::remove(path);
}

TEST(KilnRoundTrip, MetadataSurvives) {
  std::string error;
  KilnFile f;
  ASSERT_TRUE(test::load_bytes(test::sample_file_bytes(), &f, &error)) << error;
  const KilnMetadata m = test::sample_metadata();
  EXPECT_FALSE(f.metadata.kiln_version.empty());  // filled in by the writer
  EXPECT_EQ(f.metadata.source_model_sha256, m.source_model_sha256);
  EXPECT_EQ(f.metadata.source_model_name, m.source_model_name);
  EXPECT_EQ(f.metadata.calibration_method, m.calibration_method);
  EXPECT_EQ(f.metadata.calibration_settings, m.calibration_settings);
  EXPECT_EQ(f.metadata.weight_bits, 4);
  EXPECT_EQ(f.metadata.activation_bits, 8);
  EXPECT_EQ(f.metadata.preprocessing, m.preprocessing);
  EXPECT_EQ(f.metadata.extra, m.extra);
}

TEST(KilnRoundTrip, DeterministicAndStableThroughASecondTrip) {
  const std::string a = test::sample_file_bytes();
  EXPECT_EQ(a, test::sample_file_bytes());
  KilnFile f;
  std::string error, b;
  ASSERT_TRUE(test::load_bytes(a, &f, &error)) << error;
  KilnSaveOptions o;
  o.blobs = &f.blobs;
  ASSERT_TRUE(serialize_kiln(f.graph, f.metadata, &b, &error, o)) << error;
  EXPECT_EQ(a, b);
}

TEST(KilnRoundTrip, LayoutIsAlignedWithTrailer) {
  const std::string s = test::sample_file_bytes();
  ASSERT_TRUE(is_kiln_file(s.data(), s.size()));
  EXPECT_EQ(s.substr(4, 4), "KILN");
  EXPECT_EQ(s.substr(s.size() - 8), "KILNEND1");
  uint64_t fb_size = 0, sum = 0;
  std::memcpy(&fb_size, s.data() + s.size() - 32, 8);
  std::memcpy(&sum, s.data() + s.size() - 24, 8);
  EXPECT_EQ(sum, kiln_checksum(s.data(), s.size() - 24));
  KilnFile f;
  std::string error;
  ASSERT_TRUE(test::load_bytes(s, &f, &error)) << error;
  EXPECT_EQ(f.data_offset % 64, 0u);
  EXPECT_EQ(f.data_offset, (fb_size + 63) / 64 * 64);
  EXPECT_EQ(f.data_offset + f.data_size + 32, s.size());
}

TEST(KilnRoundTrip, EmptyGraph) {
  std::string bytes, error;
  ASSERT_TRUE(serialize_kiln(Graph(), KilnMetadata(), &bytes, &error)) << error;
  KilnFile f;
  ASSERT_TRUE(test::load_bytes(bytes, &f, &error)) << error;
  EXPECT_TRUE(f.graph.values.empty());
  EXPECT_EQ(f.data_size, 0u);
}

TEST(KilnRoundTrip, MemoryLoadIsZeroCopyAndNeedsAlignment) {
  const std::string s = test::sample_file_bytes();
  void* raw = std::aligned_alloc(64, (s.size() + 64 + 63) / 64 * 64);
  std::shared_ptr<const void> owner(raw, [](const void* p) { std::free(const_cast<void*>(p)); });
  std::memcpy(raw, s.data(), s.size());
  KilnFile f;
  std::string error;
  ASSERT_TRUE(load_kiln_from_memory(raw, s.size(), owner, &f, &error)) << error;
  EXPECT_EQ(f.bytes, raw);
  EXPECT_TRUE(inside(f.graph.values[1].constant->raw(), 1, f));
  // One byte off: refused with a message saying what to do instead.
  auto* shifted = static_cast<uint8_t*>(std::aligned_alloc(64, (s.size() + 64 + 63) / 64 * 64));
  std::memcpy(shifted + 1, s.data(), s.size());
  EXPECT_FALSE(load_kiln_from_memory(shifted + 1, s.size(), nullptr, &f, &error));
  EXPECT_NE(error.find("load_kiln_copy"), std::string::npos) << error;
  EXPECT_TRUE(load_kiln_copy(shifted + 1, s.size(), &f, &error)) << error;
  std::free(shifted);
}

TEST(KilnSave, AtomicReplaceLeavesNoTemporaryFiles) {
  const std::string dir = temp_dir() + "/atomic";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/m.kiln";
  { std::ofstream(path) << "old contents"; }
  std::string error;
  ASSERT_TRUE(save_kiln(test::sample_graph(), KilnMetadata(), path, &error)) << error;
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    ++files;
    EXPECT_EQ(e.path().filename(), "m.kiln");
  }
  EXPECT_EQ(files, 1u);
  KilnFile f;
  EXPECT_TRUE(load_kiln(path, &f, &error)) << error;
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_NE(st.st_mode & 0044, 0u);  // readable beyond the owner (umask permitting), unlike mkstemp's 0600
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

TEST(KilnSave, ErrorsAreReported) {
  std::string error;
  EXPECT_FALSE(save_kiln(test::sample_graph(), KilnMetadata(), "/nonexistent-folder/x.kiln", &error));
  EXPECT_NE(error.find("/nonexistent-folder/x.kiln"), std::string::npos) << error;
  Graph g = test::sample_graph();
  g.nodes[1].dead = true;
  std::string bytes;
  EXPECT_FALSE(serialize_kiln(g, KilnMetadata(), &bytes, &error));
  EXPECT_NE(error.find("dead"), std::string::npos) << error;
  g = test::sample_graph();
  g.nodes[0].inputs.push_back(99);
  EXPECT_FALSE(serialize_kiln(g, KilnMetadata(), &bytes, &error));
  EXPECT_NE(error.find("out of range"), std::string::npos) << error;
  KilnMetadata m;
  m.source_model_sha256 = {1, 2, 3};
  EXPECT_FALSE(serialize_kiln(test::sample_graph(), m, &bytes, &error));
  KilnFile f;
  EXPECT_FALSE(load_kiln("/nonexistent-folder/x.kiln", &f, &error));
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
  EXPECT_FALSE(load_kiln("/", &f, &error));
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
}

}  // namespace
}  // namespace kiln
