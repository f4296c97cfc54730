// A PackedConv serialised, viewed back from the bytes (no copy) and run equals conv_ref exactly on
// every path and ISA; corrupted, truncated, misaligned or foreign blobs are rejected with an error;
// one PackedConv runs on several threads at once, each with its own workspace.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "conv_test_util.h"
#include "kiln/kernels/conv_ref.h"
#include "kiln/kernels/pack.h"

namespace kiln::kernels::testing {
namespace {

ConvShape conv(int h, int w, int cin, int cout, int kh, int kw, int stride, int pad, int groups = 1) {
  ConvShape s;
  s.in_h = h, s.in_w = w, s.in_c = cin, s.out_c = cout, s.groups = groups;
  s.kernel_h = kh, s.kernel_w = kw, s.stride_h = stride, s.stride_w = stride;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = pad;
  return s;
}

struct PathCase {
  ConvShape shape;
  ConvPath path;
};

// One shape per path (and per variant inside a path): small, with tails.
const PathCase kPaths[] = {
    {conv(6, 5, 40, 40, 3, 3, 1, 1, 40), ConvPath::depthwise},
    {conv(9, 8, 24, 24, 5, 5, 2, 2, 24), ConvPath::depthwise},
    {conv(5, 7, 13, 33, 1, 1, 1, 0), ConvPath::gemm_1x1},
    {conv(7, 9, 24, 17, 1, 1, 2, 0), ConvPath::gemm_1x1},
    {conv(6, 7, 16, 20, 3, 3, 1, 1), ConvPath::igemm},
    {conv(7, 7, 12, 20, 3, 3, 2, 1, 4), ConvPath::igemm},
    {conv(13, 11, 3, 40, 7, 7, 2, 3), ConvPath::first_layer},
    {conv(8, 9, 1, 8, 3, 3, 1, 1), ConvPath::first_layer},
};

// A 64-byte aligned copy of a blob (as a mapped file would be), shared with the views made of it.
std::shared_ptr<AlignedBuffer> aligned_copy(const std::vector<uint8_t>& bytes) {
  auto buf = std::make_shared<AlignedBuffer>(bytes.size());
  std::memcpy(buf->data(), bytes.data(), bytes.size());
  return buf;
}

struct Packed {
  ConvOperands ops;
  PackedConv conv;
  std::vector<uint8_t> blob;
};

void pack_case(const ConvCase& tc, Isa isa, Packed* out) {
  make_operands(tc, &out->ops);
  ASSERT_EQ(conv_pack(tc.shape, out->ops.weights.data(), tc.weight_bits, out->ops.bias.data(),
                      out->ops.multiplier.data(), tc.input_zero_point, isa, &out->conv),
            "");
  ASSERT_EQ(conv_serialize(out->conv, &out->blob), "");
}

std::vector<uint8_t> run(const PackedConv& cv, const ConvOperands& ops) {
  const ConvShape& s = cv.shape;
  std::vector<uint8_t> out(static_cast<size_t>(s.batch) * s.out_h() * s.out_w() * s.out_c, 0);
  ConvWorkspace ws;
  EXPECT_EQ(conv_run(cv, ws, ops.input.data(), out.data(), ops.params, nullptr), "");
  return out;
}

std::vector<uint8_t> reference(const ConvCase& tc, const ConvOperands& ops) {
  const ConvShape& s = tc.shape;
  std::vector<uint8_t> out(static_cast<size_t>(s.batch) * s.out_h() * s.out_w() * s.out_c, 0);
  EXPECT_EQ(conv_ref(s, ops.input.data(), tc.input_zero_point, ops.weights.data(), ops.bias.data(), ops.params,
                     out.data()),
            "");
  return out;
}

TEST(ConvBlob, ViewOfSerialisedRunsExactlyOnEveryPathAndIsa) {
  for (Isa isa : runnable_isas()) {
    uint32_t seed = 300;
    for (const PathCase& pc : kPaths) {
      for (int bits : {8, 4}) {
        ConvCase tc;
        tc.shape = pc.shape;
        tc.weight_bits = bits;
        tc.epilogue = Epilogue::residual;
        tc.seed = seed++;
        Packed pk;
        pack_case(tc, isa, &pk);
        if (HasFatalFailure()) return;
        EXPECT_EQ(pk.conv.path, pc.path) << isa_name(isa) << " " << tc.describe();
        auto storage = aligned_copy(pk.blob);
        PackedConv view;
        ASSERT_EQ(conv_view(static_cast<const uint8_t*>(storage->data()), storage->size(), storage, isa, &view), "");
        // The view points into the blob: nothing was copied.
        EXPECT_EQ(view.blob.data(), storage->data());
        EXPECT_EQ(view.path, pk.conv.path);
        std::vector<uint8_t> again;
        ASSERT_EQ(conv_serialize(view, &again), "");
        EXPECT_EQ(again, pk.blob);
        const std::vector<uint8_t> want = reference(tc, pk.ops);
        EXPECT_EQ(run(view, pk.ops), want) << isa_name(isa) << " " << tc.describe();
        EXPECT_EQ(run(pk.conv, pk.ops), want) << isa_name(isa) << " " << tc.describe();
      }
    }
  }
}

// One PackedConv, four threads, each with its own workspace and its own input, all at once.
TEST(ConvBlob, OnePackedConvRunsOnManyThreadsAtOnce) {
  for (const PathCase& pc : kPaths) {
    const Isa isa = runnable_isas().front();
    ConvCase tc;
    tc.shape = pc.shape;
    Packed pk;
    pack_case(tc, isa, &pk);
    if (HasFatalFailure()) return;
    constexpr int kThreads = 4;
    std::vector<ConvOperands> inputs(kThreads);
    std::vector<std::vector<uint8_t>> want(kThreads), got(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      ConvCase other = tc;
      other.seed = tc.seed + 1 + t;
      make_operands(other, &inputs[t]);
      inputs[t].weights = pk.ops.weights, inputs[t].bias = pk.ops.bias, inputs[t].multiplier = pk.ops.multiplier;
      inputs[t].params.multiplier = inputs[t].multiplier.data();
      want[t] = reference(tc, inputs[t]);
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int rep = 0; rep < 3; ++rep) got[t] = run(pk.conv, inputs[t]);
      });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(got[t], want[t]) << conv_path_name(pc.path) << " thread " << t;
  }
}

// A workspace moves between convolutions: each run rebuilds what the previous one left.
TEST(ConvBlob, OneWorkspaceServesSeveralConvolutions) {
  const Isa isa = runnable_isas().front();
  std::vector<Packed> packs(std::size(kPaths));
  std::vector<ConvCase> cases(std::size(kPaths));
  for (size_t i = 0; i < packs.size(); ++i) {
    cases[i].shape = kPaths[i].shape;
    cases[i].input_zero_point = static_cast<int32_t>(100 + 10 * i);
    cases[i].seed = static_cast<uint32_t>(40 + i);
    pack_case(cases[i], isa, &packs[i]);
    if (HasFatalFailure()) return;
  }
  ConvWorkspace ws;
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < packs.size(); ++i) {
      const ConvShape& s = cases[i].shape;
      std::vector<uint8_t> out(static_cast<size_t>(s.out_h()) * s.out_w() * s.out_c, 0);
      ASSERT_EQ(conv_run(packs[i].conv, ws, packs[i].ops.input.data(), out.data(), packs[i].ops.params, nullptr), "");
      EXPECT_EQ(out, reference(cases[i], packs[i].ops)) << conv_path_name(kPaths[i].path) << " round " << round;
    }
  }
}

class ConvBlobCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    isa_ = runnable_isas().front();
    ConvCase tc;
    tc.shape = conv(6, 7, 16, 20, 3, 3, 1, 1);
    pack_case(tc, isa_, &pk_);
  }
  // conv_view's verdict on a modified copy of the blob.
  std::string view(const std::vector<uint8_t>& bytes, Isa isa) {
    auto storage = aligned_copy(bytes);
    PackedConv out;
    return conv_view(static_cast<const uint8_t*>(storage->data()), storage->size(), storage, isa, &out);
  }
  std::string view(const std::vector<uint8_t>& bytes) { return view(bytes, isa_); }
  Isa isa_ = Isa::ref;
  Packed pk_;
};

TEST_F(ConvBlobCorruption, IntactBlobIsAccepted) { EXPECT_EQ(view(pk_.blob), ""); }

// Every header byte is checked: flipping any one of them is an error.
TEST_F(ConvBlobCorruption, AnyHeaderByteFlippedIsRejected) {
  for (size_t i = 0; i < 256; ++i) {
    std::vector<uint8_t> bad = pk_.blob;
    bad[i] ^= 0x5a;
    EXPECT_NE(view(bad), "") << "header byte " << i;
  }
}

TEST_F(ConvBlobCorruption, TruncatedOrExtendedIsRejected) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{255}, size_t{256}, pk_.blob.size() - 1}) {
    std::vector<uint8_t> bad(std::max<size_t>(n, 1), 0);  // a 1-byte buffer stands in for empty
    std::memcpy(bad.data(), pk_.blob.data(), n);
    EXPECT_NE(view(bad), "") << n << " bytes";
  }
  std::vector<uint8_t> longer = pk_.blob;
  longer.resize(longer.size() + 64);
  EXPECT_NE(view(longer), "");
}

TEST_F(ConvBlobCorruption, MisalignedNullOrForeignIsaIsRejected) {
  AlignedBuffer buf(pk_.blob.size() + 64);
  uint8_t* at = static_cast<uint8_t*>(buf.data()) + 1;
  std::memcpy(at, pk_.blob.data(), pk_.blob.size());
  PackedConv out;
  EXPECT_NE(conv_view(at, pk_.blob.size(), nullptr, isa_, &out), "");
  EXPECT_NE(conv_view(nullptr, pk_.blob.size(), nullptr, isa_, &out), "");
  for (Isa other : {Isa::ref, Isa::avx2, Isa::avx512vnni, Isa::neondot, Isa::i8mm}) {
    if (other != isa_) {
      EXPECT_NE(view(pk_.blob, other), "") << isa_name(other);
    }
  }
}

TEST_F(ConvBlobCorruption, BadZeroRowOrMultiplierIsRejected) {
  const size_t zero_at = pk_.conv.zero.data() - pk_.conv.blob.data();
  std::vector<uint8_t> bad = pk_.blob;
  bad[zero_at + 3] ^= 1;
  EXPECT_NE(view(bad), "");
  const size_t mult_at = reinterpret_cast<const uint8_t*>(pk_.conv.multiplier.data()) - pk_.conv.blob.data();
  for (float v : {NAN, INFINITY}) {
    bad = pk_.blob;
    std::memcpy(bad.data() + mult_at + 4 * 5, &v, 4);
    EXPECT_NE(view(bad), "");
  }
}

// Every bytes of the packed weights may be anything a packer could write: a flipped weight byte
// gives a blob that views and runs (different numbers, no crash).
TEST_F(ConvBlobCorruption, WeightBytesAreDataNotStructure) {
  std::vector<uint8_t> changed = pk_.blob;
  changed[changed.size() - 100] ^= 0x33;
  auto storage = aligned_copy(changed);
  PackedConv out;
  ASSERT_EQ(conv_view(static_cast<const uint8_t*>(storage->data()), storage->size(), storage, isa_, &out), "");
  run(out, pk_.ops);
}

TEST(ConvBlob, UnpackedConvCannotBeSerialisedOrRun) {
  PackedConv empty;
  std::vector<uint8_t> blob;
  EXPECT_NE(conv_serialize(empty, &blob), "");
  ConvWorkspace ws;
  uint8_t in[4] = {}, out[4] = {};
  EXPECT_NE(conv_run(empty, ws, in, out, RequantParams{}, nullptr), "");
}

}  // namespace
}  // namespace kiln::kernels::testing
