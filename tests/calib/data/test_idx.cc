#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>

#include "kiln/calib/data/idx.h"
#include "kiln/calib/data/labels.h"
#include "test_util.h"

namespace kiln::calib {
namespace {
using testing::idx_bytes;
using testing::ScratchDir;
using testing::write_bytes;

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

TEST(Idx, ParsesEveryElementTypeBigEndian) {
  TypedArray a;
  std::string error;
  auto b = idx_bytes(0x08, {2, 3}, {1, 2, 3, 4, 5, 255});
  ASSERT_TRUE(parse_idx(b.data(), b.size(), &a, &error)) << error;
  EXPECT_EQ(a.dtype, DType::u8);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  FloatTensor t;
  ASSERT_TRUE(to_float(a, &t, &error));
  EXPECT_EQ(t.data.back(), 255.0f);

  b = idx_bytes(0x0B, {2}, {0xff, 0xfe, 0x01, 0x00});  // int16 -2, 256
  ASSERT_TRUE(parse_idx(b.data(), b.size(), &a, &error)) << error;
  ASSERT_TRUE(to_float(a, &t, &error));
  EXPECT_EQ(t.data, (std::vector<float>{-2.0f, 256.0f}));

  b = idx_bytes(0x0D, {1}, {0x3f, 0xc0, 0x00, 0x00});  // float32 1.5
  ASSERT_TRUE(parse_idx(b.data(), b.size(), &a, &error)) << error;
  ASSERT_TRUE(to_float(a, &t, &error));
  EXPECT_EQ(t.data, (std::vector<float>{1.5f}));

  b = idx_bytes(0x0C, {1}, {0xff, 0xff, 0xff, 0xf9});  // int32 -7
  ASSERT_TRUE(parse_idx(b.data(), b.size(), &a, &error)) << error;
  ASSERT_TRUE(to_float(a, &t, &error));
  EXPECT_EQ(t.data, (std::vector<float>{-7.0f}));
}

TEST(Idx, RejectsWrongMagicTruncatedAndOversizedFiles) {
  struct Case {
    std::vector<uint8_t> bytes;
    const char* expect;
  };
  auto truncated = idx_bytes(0x08, {2, 2}, {1, 2, 3});
  auto oversized = idx_bytes(0x08, {1}, {1, 2});
  const std::vector<Case> cases = {
      {{}, "magic"},
      {{0x00, 0x00, 0x08}, "magic"},
      {{0x1f, 0x00, 0x08, 0x01, 0, 0, 0, 1, 7}, "magic"},
      {{0x00, 0x00, 0x07, 0x01, 0, 0, 0, 1, 7}, "magic"},  // no such element type
      {{0x00, 0x00, 0x08, 0x00}, "magic"},                 // no dimensions
      {{0x00, 0x00, 0x08, 0x03, 0, 0, 0, 1}, "truncated IDX header"},
      {truncated, "truncated"},
      {oversized, "oversized"},
      {idx_bytes(0x0E, {0xffffffff, 0xffffffff}, {}), "too large"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    TypedArray a;
    std::string error;
    EXPECT_FALSE(parse_idx(cases[i].bytes.data(), cases[i].bytes.size(), &a, &error)) << "case " << i;
    EXPECT_NE(error.find(cases[i].expect), std::string::npos) << "case " << i << ": " << error;
  }
}

TEST(Idx, ReadsGzippedAndPlainFilesAndStreamsThem) {
  ScratchDir dir;
  std::vector<uint8_t> pixels(5 * 2 * 3);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 9);
  const auto bytes = idx_bytes(0x08, {5, 2, 3}, pixels);
  write_bytes(dir / "plain-idx3-ubyte", bytes);
  write_gz(dir / "zipped-idx3-ubyte.gz", bytes);
  for (const char* name : {"plain-idx3-ubyte", "zipped-idx3-ubyte.gz"}) {
    TypedArray a;
    std::string error;
    ASSERT_TRUE(read_idx(dir / name, &a, &error)) << error;
    EXPECT_EQ(a.bytes, pixels);
    IdxReader r;
    ASSERT_TRUE(r.open(dir / name, &error)) << error;
    EXPECT_EQ(r.items(), 5u);
    EXPECT_EQ(r.item_elements(), 6u);
    std::vector<float> buf(12);
    ASSERT_TRUE(r.read_next(2, buf.data(), &error)) << error;
    ASSERT_TRUE(r.read_next(2, buf.data(), &error)) << error;
    EXPECT_EQ(buf[0], static_cast<float>(pixels[12]));
    EXPECT_FALSE(r.read_next(2, buf.data(), &error));  // only one left
    ASSERT_TRUE(r.rewind(&error)) << error;
    ASSERT_TRUE(r.read_next(1, buf.data(), &error)) << error;
    EXPECT_EQ(buf[5], static_cast<float>(pixels[5]));
  }
  // A truncated gzip stream and a truncated body are reported, not crashed on.
  std::vector<uint8_t> gz;
  {
    write_gz(dir / "t.gz", bytes);
    std::vector<uint8_t> all;
    FILE* f = std::fopen((dir / "t.gz").c_str(), "rb");
    int c;
    while ((c = std::fgetc(f)) != EOF) all.push_back(static_cast<uint8_t>(c));
    std::fclose(f);
    gz.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(all.size() / 2));
  }
  write_bytes(dir / "half.gz", gz);
  TypedArray a;
  std::string error;
  EXPECT_FALSE(read_idx(dir / "half.gz", &a, &error));
  EXPECT_NE(error.find("half.gz"), std::string::npos) << error;
  write_bytes(dir / "short-idx", std::vector<uint8_t>(bytes.begin(), bytes.end() - 4));
  IdxReader r;
  ASSERT_TRUE(r.open(dir / "short-idx", &error)) << error;
  std::vector<float> buf(30);
  EXPECT_FALSE(r.read_next(5, buf.data(), &error));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  EXPECT_FALSE(r.open(dir / "nope", &error));
  EXPECT_NE(error.find("nope"), std::string::npos) << error;
}

TEST(Idx, ReadsFashionMnistFromTheDebianPackage) {
  const std::string images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  const std::string labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
  if (!std::filesystem::exists(images)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  IdxReader r;
  std::string error;
  ASSERT_TRUE(r.open(images, &error)) << error;
  EXPECT_EQ(r.header().shape, (std::vector<int64_t>{10000, 28, 28}));
  std::vector<int64_t> l;
  ASSERT_TRUE(read_labels(labels, &l, &error, 10)) << error;
  ASSERT_EQ(l.size(), 10000u);
  EXPECT_EQ(l[0], 9);  // the first test image is an ankle boot
  EXPECT_EQ(l[1], 2);  // then a pullover
  EXPECT_FALSE(read_labels(labels, &l, &error, 5));  // labels beyond a 5-class model
  EXPECT_NE(error.find("outside"), std::string::npos) << error;
}

TEST(Labels, ReadsTextFilesAndRejectsGarbage) {
  ScratchDir dir;
  testing::write_text(dir / "labels.txt", "# class per image\n3\n0\r\n\n 7 \n");
  std::vector<int64_t> l;
  std::string error;
  ASSERT_TRUE(read_labels(dir / "labels.txt", &l, &error)) << error;
  EXPECT_EQ(l, (std::vector<int64_t>{3, 0, 7}));
  EXPECT_FALSE(read_labels(dir / "labels.txt", &l, &error, 5));
  testing::write_text(dir / "bad.txt", "1\ncat\n");
  EXPECT_FALSE(read_labels(dir / "bad.txt", &l, &error));
  EXPECT_NE(error.find("line 2"), std::string::npos) << error;
  testing::write_text(dir / "empty.txt", "");
  EXPECT_FALSE(read_labels(dir / "empty.txt", &l, &error));
  EXPECT_FALSE(read_labels(dir / "absent.txt", &l, &error));
}

}  // namespace
}  // namespace kiln::calib
