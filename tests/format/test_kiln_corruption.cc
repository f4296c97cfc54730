// Malformed .kiln files: truncated, bit-flipped, wrong identifier or version, and files whose
// FlatBuffer is well-formed but whose contents are wrong (crafted through the generated object API
// and re-sealed with a valid checksum, so that kiln's own checks are what must catch them). Every
// one is rejected with a message; none may crash (this suite also runs under ASan/UBSan).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <vector>

#include "kiln_generated.h"
#include "kiln_test_util.h"

namespace kiln {
namespace {

const std::string& sample() {
  static const std::string s = test::sample_file_bytes();
  return s;
}

std::string load_error(const std::string& bytes, bool verify_checksum = true) {
  KilnFile f;
  std::string error;
  if (test::load_bytes(bytes, &f, &error, verify_checksum)) return "";
  EXPECT_FALSE(error.empty());
  return error;
}

TEST(KilnCorruption, SampleIsValid) { EXPECT_EQ(load_error(sample()), ""); }

// Positions worth trying one by one: every byte of the FlatBuffer and the trailer, and a stride
// through the data region (whose bytes all play the same part), keeping the qemu and ASan lanes fast.
std::vector<size_t> positions(const std::string& s) {
  const size_t fb_end = test::unpack(s)->data_offset, trailer = s.size() - kKilnTrailerBytes;
  std::vector<size_t> p;
  for (size_t i = 0; i < s.size(); i += (i >= fb_end && i < trailer) ? 61 : 1) p.push_back(i);
  return p;
}

TEST(KilnCorruption, EveryTruncationIsRejected) {
  const std::string& s = sample();
  // With and without the checksum.
  for (size_t len : positions(s)) {
    const std::string t = s.substr(0, len);
    EXPECT_NE(load_error(t), "") << "length " << len;
    EXPECT_NE(load_error(t, false), "") << "length " << len;
  }
}

TEST(KilnCorruption, FlippedBitsAreCaughtByTheChecksum) {
  const std::string& s = sample();
  for (size_t pos : positions(s)) {
    std::string t = s;
    t[pos] = static_cast<char>(t[pos] ^ (1 << (pos % 8)));
    const std::string e = load_error(t);
    EXPECT_NE(e, "") << "byte " << pos;
  }
}

// Without the checksum the structural checks alone run on every flip: they must never crash, and
// anything they accept must still be a consistent graph (indices in range, data in the region).
TEST(KilnCorruption, FlipsWithoutChecksumNeverCrash) {
  const std::string& s = sample();
  const size_t fb_end = test::unpack(s)->data_offset;
  size_t rejected = 0, tried = 0;
  for (size_t pos = 0; pos < fb_end; ++pos) {
    for (int bit : {0, 3, 7}) {
      std::string t = s;
      t[pos] = static_cast<char>(t[pos] ^ (1 << bit));
      KilnFile f;
      std::string error;
      ++tried;
      if (!test::load_bytes(t, &f, &error, false)) {
        ++rejected;
        EXPECT_EQ(error.rfind("invalid .kiln file: ", 0), 0u) << error;
        continue;
      }
      const Graph& g = f.graph;
      for (const Node& n : g.nodes) {
        for (int i : n.inputs) ASSERT_LT(i, static_cast<int>(g.values.size()));
        for (int o : n.outputs) ASSERT_LT(o, static_cast<int>(g.values.size()));
      }
      for (const Value& v : g.values) {
        if (!v.constant) continue;
        const auto* p = static_cast<const uint8_t*>(v.constant->raw());
        ASSERT_GE(p, f.bytes + f.data_offset);
        ASSERT_LE(p + v.constant->bytes(), f.bytes + f.data_offset + f.data_size);
      }
    }
  }
  // Most flips in the table structure are caught even without the checksum.
  EXPECT_GT(rejected, tried / 4) << rejected << " of " << tried;
}

TEST(KilnCorruption, WrongIdentifier) {
  std::string t = sample();
  t[4] = 'X';
  EXPECT_NE(load_error(t).find("identifier"), std::string::npos);
  EXPECT_NE(load_error("PK\x03\x04" + std::string(100, 'x')).find("identifier"), std::string::npos);
  // The identifier alone is not enough.
  EXPECT_NE(load_error("KILNKILN" + std::string(100, 'x')).find("trailer"), std::string::npos);
}

TEST(KilnCorruption, DamagedTrailer) {
  std::string t = sample();
  t[t.size() - 1] = '2';
  EXPECT_NE(load_error(t).find("trailer"), std::string::npos);
  t = sample();
  t += std::string(64, '\0');  // appended bytes: the trailer is no longer at the end
  EXPECT_NE(load_error(t).find("trailer"), std::string::npos);
}

// Edits the sample's model table, re-seals the file and expects `what` in the error.
void expect_rejected(const std::function<void(fb::ModelT&)>& edit, const std::string& what) {
  auto m = test::unpack(sample());
  edit(*m);
  const std::string e = load_error(test::reassemble(*m, test::data_region_of(sample())));
  EXPECT_NE(e.find(what), std::string::npos) << "error: '" << e << "', expected: '" << what << "'";
}

TEST(KilnCorruption, ResealedUnmodifiedFileLoads) {
  auto m = test::unpack(sample());
  EXPECT_EQ(load_error(test::reassemble(*m, test::data_region_of(sample()))), "");
}

TEST(KilnCorruption, WrongMajorVersionNamesBothVersions) {
  expect_rejected([](fb::ModelT& m) { m.format_major = 2; }, "format version 2.0 is not supported (this kiln reads 1.x)");
  expect_rejected([](fb::ModelT& m) { m.format_major = 0; }, "format version 0.0 is not supported");
}

TEST(KilnCorruption, NewerMinorVersionLoads) {
  auto m = test::unpack(sample());
  m->format_minor = 7;
  KilnFile f;
  std::string error;
  ASSERT_TRUE(test::load_bytes(test::reassemble(*m, test::data_region_of(sample())), &f, &error)) << error;
  EXPECT_EQ(f.format_minor, 7);
}

void set_ref(std::unique_ptr<fb::DataRef>& ref, uint64_t offset, uint64_t size) { *ref = fb::DataRef(offset, size); }
void set_offset(std::unique_ptr<fb::DataRef>& ref, uint64_t offset) { set_ref(ref, offset, ref->size()); }
void set_size(std::unique_ptr<fb::DataRef>& ref, uint64_t size) { set_ref(ref, ref->offset(), size); }

fb::ValueT& constant_value(fb::ModelT& m) {
  for (auto& v : m.values) {
    if (v->constant) return *v;
  }
  throw std::runtime_error("no constant");
}

TEST(KilnCorruption, DataReferencesOutOfRange) {
  expect_rejected([](fb::ModelT& m) { set_offset(constant_value(m).constant, 1u << 20); }, "outside the data region");
  expect_rejected([](fb::ModelT& m) { set_offset(constant_value(m).constant, ~uint64_t{0} - 63); },
                  "outside the data region");
  expect_rejected([](fb::ModelT& m) { set_offset(constant_value(m).constant, 8); }, "not 64-byte aligned");
  expect_rejected([](fb::ModelT& m) { set_size(constant_value(m).constant, 3); }, "its shape and type need");
  expect_rejected([](fb::ModelT& m) { set_size(constant_value(m).constant, ~uint64_t{0}); }, "outside the data region");
  expect_rejected([](fb::ModelT& m) { set_offset(m.nodes[0]->blobs[0]->data, 1u << 30); }, "blob 'packed_weights'");
}

TEST(KilnCorruption, DataRegionMismatch) {
  auto m = test::unpack(sample());
  std::string bytes = test::reassemble(*m, test::data_region_of(sample()));
  // data_size one short of the file: recompute the checksum so that the region check is what fails.
  auto m2 = test::unpack(bytes);
  const uint64_t end = m2->data_offset + m2->data_size;
  flatbuffers::FlatBufferBuilder b;
  m2->data_size -= 64;
  fb::FinishModelBuffer(b, fb::Model::Pack(b, m2.get()));
  ASSERT_LE(b.GetSize(), m2->data_offset);
  std::memcpy(bytes.data(), b.GetBufferPointer(), b.GetSize());
  const uint64_t fb_size = b.GetSize();
  std::memcpy(bytes.data() + end, &fb_size, 8);
  const uint64_t sum = kiln_checksum(bytes.data(), end + 8);
  std::memcpy(bytes.data() + end + 8, &sum, 8);
  EXPECT_NE(load_error(bytes).find("data region"), std::string::npos) << load_error(bytes);
}

TEST(KilnCorruption, ShapesAndTypes) {
  expect_rejected([](fb::ModelT& m) { constant_value(m).shape[0] = -1; }, "symbolic or too large");
  expect_rejected([](fb::ModelT& m) { constant_value(m).shape = {1 << 30, 1 << 30, 1 << 30}; }, "symbolic or too large");
  expect_rejected([](fb::ModelT& m) { constant_value(m).shape[0] = (int64_t{1} << 40) + 1; }, "dimension");
  expect_rejected([](fb::ModelT& m) { constant_value(m).shape = {int64_t{1} << 40, int64_t{1} << 40}; },
                  "symbolic or too large");
  expect_rejected([](fb::ModelT& m) { m.values[0]->shape[1] = -7; }, "dimension -7");
  expect_rejected([](fb::ModelT& m) { m.values[0]->shape.assign(40, 1); }, "rank 40");
  expect_rejected([](fb::ModelT& m) { m.values[0]->dtype = static_cast<fb::DType>(9); }, "unknown element type 9");
  expect_rejected([](fb::ModelT& m) { m.values[0]->layout = static_cast<fb::Layout>(5); }, "unknown layout");
}

TEST(KilnCorruption, Indices) {
  expect_rejected([](fb::ModelT& m) { m.nodes[0]->inputs[0] = 1000; }, "input value index 1000 out of range");
  expect_rejected([](fb::ModelT& m) { m.nodes[0]->inputs[0] = -2; }, "input value index -2 out of range");
  expect_rejected([](fb::ModelT& m) { m.nodes[0]->outputs[0] = -1; }, "output value index -1 out of range");
  expect_rejected([](fb::ModelT& m) { m.inputs[0] = 77; }, "graph inputs: value index 77 out of range");
  expect_rejected([](fb::ModelT& m) { m.outputs.push_back(m.outputs[0]); }, "listed twice");
  expect_rejected([](fb::ModelT& m) { m.outputs[0] = -5; }, "graph outputs: value index -5");
}

TEST(KilnCorruption, GraphStructure) {
  expect_rejected([](fb::ModelT& m) { m.values[1]->name = m.values[0]->name; }, "is used twice");
  expect_rejected([](fb::ModelT& m) { m.values[0]->name.clear(); }, "empty name");
  expect_rejected([](fb::ModelT& m) { m.nodes[1]->outputs = m.nodes[0]->outputs; }, "already has a producer");
  expect_rejected([](fb::ModelT& m) { m.nodes[0]->outputs = m.inputs; }, "already has a producer");
  expect_rejected([](fb::ModelT& m) { std::swap(m.nodes[0], m.nodes[1]); }, "not in topological order");
  expect_rejected([](fb::ModelT& m) { m.nodes.pop_back(); }, "is never written");
  expect_rejected([](fb::ModelT& m) { m.inputs.push_back(1); }, "is a constant");
  expect_rejected([](fb::ModelT& m) { m.nodes[0]->op.clear(); }, "empty op");
  expect_rejected(
      [](fb::ModelT& m) {
        auto a = std::make_unique<fb::AttributeT>(*m.nodes[0]->attrs[0]);
        m.nodes[0]->attrs.push_back(std::move(a));
      },
      "given twice");
  expect_rejected([](fb::ModelT& m) { m.nodes[0]->attrs[0]->kind = static_cast<fb::AttrKind>(12); },
                  "unknown attribute kind 12");
  expect_rejected([](fb::ModelT& m) { m.nodes[0]->blobs[0]->kind.clear(); }, "blob without a kind");
}

TEST(KilnCorruption, QuantizationParameters) {
  const auto quant_of = [](fb::ModelT& m) -> fb::QuantParamsT& { return *m.values[0]->quant; };
  expect_rejected([&](fb::ModelT& m) { quant_of(m).scales[0] = -1.0f; }, "not a positive number");
  expect_rejected([&](fb::ModelT& m) { quant_of(m).scales[0] = std::nanf(""); }, "not a positive number");
  expect_rejected([&](fb::ModelT& m) { quant_of(m).scales.clear(); }, "without scales");
  expect_rejected([&](fb::ModelT& m) { quant_of(m).scales.push_back(1.0f); }, "zero points for 2 scales");
  expect_rejected([&](fb::ModelT& m) { quant_of(m).axis = 9; }, "quantization axis 9");
  expect_rejected([&](fb::ModelT& m) { quant_of(m).bits = 0; }, "quantization bits 0");
  // Per-channel weight with a scale count that does not match its channels.
  expect_rejected(
      [](fb::ModelT& m) {
        constant_value(m).quant->scales.push_back(0.5f);
        constant_value(m).quant->zero_points.push_back(0);
      },
      "5 scales for 4 channels");
  // Per-channel (weight) scales may be negative (codes of -w), never zero or non-finite.
  expect_rejected([](fb::ModelT& m) { constant_value(m).quant->scales[0] = 0.0f; }, "not a non-zero number");
  expect_rejected([](fb::ModelT& m) { constant_value(m).quant->scales[0] = std::nanf(""); }, "not a non-zero number");
  expect_rejected([](fb::ModelT& m) { constant_value(m).quant->scales[0] = -INFINITY; }, "not a non-zero number");
  auto m = test::unpack(sample());
  constant_value(*m).quant->scales[1] = -0.25f;
  EXPECT_EQ(load_error(test::reassemble(*m, test::data_region_of(sample()))), "");
}

TEST(KilnCorruption, Metadata) {
  expect_rejected([](fb::ModelT& m) { m.metadata->source_model_sha256.resize(5); }, "not 32 bytes");
  expect_rejected(
      [](fb::ModelT& m) {
        auto kv = std::make_unique<fb::KeyValueT>(*m.metadata->preprocessing[0]);
        m.metadata->preprocessing.push_back(std::move(kv));
      },
      "duplicate key");
}

}  // namespace
}  // namespace kiln
