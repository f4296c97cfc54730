#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "kiln/calib/data/image.h"
#include "test_util.h"

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace kiln::calib {
namespace {

// A fuzzer seed file's bytes (the first one is the fuzzer's option byte); empty if it is missing.
std::vector<uint8_t> read_seed(const std::string& name) {
  std::vector<uint8_t> bytes;
  std::FILE* f = std::fopen((std::string(KILN_TEST_FUZZ_SEEDS_DIR) + "/" + name).c_str(), "rb");
  if (f == nullptr) return bytes;
  int c;
  while ((c = std::fgetc(f)) != EOF) bytes.push_back(static_cast<uint8_t>(c));
  std::fclose(f);
  return bytes;
}
using testing::ScratchDir;

// A 3x5 gray test pattern: pixel i = (i * 37) mod 256.
std::vector<uint8_t> pattern() {
  std::vector<uint8_t> p(15);
  for (int i = 0; i < 15; ++i) p[static_cast<size_t>(i)] = static_cast<uint8_t>((i * 37) % 256);
  return p;
}

TEST(Image, BilinearResizeMatchesPyTorchInterpolate) {
  // Expected values: torch.nn.functional.interpolate(x / 255, size, mode="bilinear",
  // align_corners=False) on the pattern, computed with PyTorch 1.13.
  const std::vector<float> down = {1.995098144e-01f, 2.867647111e-01f, 3.112745285e-01f, 4.926470816e-01f,
                                   5.348039269e-01f, 6.220588684e-01f, 6.465686560e-01f, 1.691176444e-01f};
  const std::vector<float> up = {
      0.000000000e+00f, 8.291317523e-02f, 1.865546405e-01f, 2.901960909e-01f, 3.938375413e-01f, 4.974790215e-01f,
      5.803921819e-01f, 2.901961207e-01f, 3.731092811e-01f, 3.620168269e-01f, 1.788235307e-01f, 2.824650109e-01f,
      3.861064613e-01f, 4.690196216e-01f, 7.254902124e-01f, 8.084033132e-01f, 6.252100468e-01f, 1.176475827e-02f,
      1.154062152e-01f, 2.190476507e-01f, 3.019607663e-01f, 5.584313869e-01f, 6.413445473e-01f, 6.302521229e-01f,
      4.470588863e-01f, 5.507003665e-01f, 3.961904645e-01f, 1.349019408e-01f, 4.470588267e-01f, 5.299720168e-01f,
      6.336134672e-01f, 7.372549176e-01f, 8.408963680e-01f, 5.142856240e-01f, 2.352941222e-02f};
  const std::vector<uint8_t> px = pattern();
  for (const auto& [h, w, expect] : {std::tuple{2, 4, down}, std::tuple{5, 7, up}}) {
    ImagePreprocess pre;
    pre.gray = true;
    pre.height = h;
    pre.width = w;
    FloatTensor t;
    std::string error;
    ASSERT_TRUE(preprocess_pixels(px.data(), 3, 5, 1, pre, &t, &error)) << error;
    EXPECT_EQ(t.shape, (std::vector<int64_t>{1, 1, h, w}));
    ASSERT_EQ(t.data.size(), expect.size());
    for (size_t i = 0; i < expect.size(); ++i) EXPECT_NEAR(t.data[i], expect[i], 2e-7f) << h << "x" << w << " @" << i;
  }
}

TEST(Image, NormalisesPerChannelConvertsToGrayAndLaysOut) {
  // 1x2 RGB image: (255, 0, 0), (10, 20, 30).
  const uint8_t px[] = {255, 0, 0, 10, 20, 30};
  ImagePreprocess pre;
  pre.mean = {0.5f, 0.25f, 0.0f};
  pre.std = {0.5f, 0.25f, 2.0f};
  FloatTensor t;
  std::string error;
  ASSERT_TRUE(preprocess_pixels(px, 1, 2, 3, pre, &t, &error)) << error;
  EXPECT_EQ(t.shape, (std::vector<int64_t>{1, 3, 1, 2}));
  auto norm = [](uint8_t v, float m, float s) { return (static_cast<float>(v) / 255.0f - m) / s; };
  EXPECT_FLOAT_EQ(t.data[0], norm(255, 0.5f, 0.5f));
  EXPECT_FLOAT_EQ(t.data[1], norm(10, 0.5f, 0.5f));
  EXPECT_FLOAT_EQ(t.data[3], norm(20, 0.25f, 0.25f));
  EXPECT_FLOAT_EQ(t.data[5], norm(30, 0.0f, 2.0f));
  pre.layout = Layout::nhwc;
  ASSERT_TRUE(preprocess_pixels(px, 1, 2, 3, pre, &t, &error)) << error;
  EXPECT_EQ(t.shape, (std::vector<int64_t>{1, 1, 2, 3}));
  EXPECT_FLOAT_EQ(t.data[4], norm(20, 0.25f, 0.25f));
  // PIL's "L": (19595 R + 38470 G + 7471 B + 32768) >> 16.
  ImagePreprocess gray;
  gray.gray = true;
  ASSERT_TRUE(preprocess_pixels(px, 1, 2, 3, gray, &t, &error)) << error;
  EXPECT_FLOAT_EQ(t.data[0], static_cast<float>((19595 * 255 + 32768) >> 16) / 255.0f);
  EXPECT_FLOAT_EQ(t.data[1], static_cast<float>((19595 * 10 + 38470 * 20 + 7471 * 30 + 32768) >> 16) / 255.0f);
  // Wrong mean/std sizes, zero std.
  pre.mean = {0.1f, 0.2f};
  EXPECT_FALSE(preprocess_pixels(px, 1, 2, 3, pre, &t, &error));
  EXPECT_NE(error.find("mean"), std::string::npos);
  pre.mean = {0.1f};
  pre.std = {0.0f};
  EXPECT_FALSE(preprocess_pixels(px, 1, 2, 3, pre, &t, &error));
}

TEST(Image, DecodesPngBmpPgmAndJpegFiles) {
  ScratchDir dir;
  // 4x3 RGB gradient.
  std::vector<uint8_t> rgb(4 * 3 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 7);
  ASSERT_TRUE(stbi_write_png((dir / "a.png").c_str(), 4, 3, 3, rgb.data(), 4 * 3));
  ASSERT_TRUE(stbi_write_bmp((dir / "a.bmp").c_str(), 4, 3, 3, rgb.data()));
  ASSERT_TRUE(stbi_write_jpg((dir / "a.jpg").c_str(), 4, 3, 3, rgb.data(), 100));
  std::string pgm = "P5\n4 3\n255\n";
  for (int i = 0; i < 12; ++i) pgm += static_cast<char>(i * 20);
  testing::write_text(dir / "a.pgm", pgm);
  ImagePreprocess pre;
  std::string error;
  FloatTensor t;
  for (const char* name : {"a.png", "a.bmp"}) {
    ASSERT_TRUE(load_image(dir / name, pre, &t, &error)) << error;
    EXPECT_EQ(t.shape, (std::vector<int64_t>{1, 3, 3, 4}));
    EXPECT_FLOAT_EQ(t.data[12 + 5], static_cast<float>(rgb[5 * 3 + 1]) / 255.0f) << name;  // G at pixel 5
  }
  ASSERT_TRUE(load_image(dir / "a.jpg", pre, &t, &error)) << error;  // lossy: close, not exact
  EXPECT_NEAR(t.data[12 + 5], static_cast<float>(rgb[5 * 3 + 1]) / 255.0f, 0.1f);
  pre.gray = true;
  ASSERT_TRUE(load_image(dir / "a.pgm", pre, &t, &error)) << error;
  EXPECT_EQ(t.shape, (std::vector<int64_t>{1, 1, 3, 4}));
  EXPECT_FLOAT_EQ(t.data[11], 220.0f / 255.0f);
  pre.gray = false;  // a gray file gives three equal channels without --gray
  ASSERT_TRUE(load_image(dir / "a.pgm", pre, &t, &error)) << error;
  EXPECT_EQ(t.data[11], t.data[12 + 11]);
}

TEST(Image, RejectsUnreadableAndCorruptImages) {
  ScratchDir dir;
  testing::write_text(dir / "empty.png", "");
  testing::write_text(dir / "text.png", "this is not a png");
  std::vector<uint8_t> rgb(16 * 16 * 3, 100);
  ASSERT_TRUE(stbi_write_png((dir / "full.png").c_str(), 16, 16, 3, rgb.data(), 16 * 3));
  std::vector<uint8_t> png;
  {
    FILE* f = std::fopen((dir / "full.png").c_str(), "rb");
    int c;
    while ((c = std::fgetc(f)) != EOF) png.push_back(static_cast<uint8_t>(c));
    std::fclose(f);
  }
  testing::write_bytes(dir / "cut.png", std::vector<uint8_t>(png.begin(), png.begin() + 40));
  // A header announcing a huge image.
  testing::write_text(dir / "huge.pgm", "P5\n60000 60000\n255\n");
  // Header numbers that overflow int (undefined behaviour inside this stb_image release's parser).
  testing::write_text(dir / "overflow.pgm", "P5\n99999999999999 2\n255\n");
  testing::write_text(dir / "short.ppm", "P6\n2 2\n255\nabc");
  ImagePreprocess pre;
  FloatTensor t;
  for (const char* name : {"empty.png", "text.png", "cut.png", "huge.pgm", "overflow.pgm", "short.ppm", "missing.png"}) {
    std::string error;
    EXPECT_FALSE(load_image(dir / name, pre, &t, &error)) << name;
    EXPECT_NE(error.find(name), std::string::npos) << error;
  }
}

// Fuzzer finds kept as regression inputs (first byte: the fuzzer's option byte): JPEG Huffman tables
// with more than 256 codes, which make this stb_image release write out of bounds.
TEST(Image, RefusesJpegHuffmanTablesThatOverflowStbImage) {
  for (const char* name : {"regress_jpeg_dht_over_256_codes", "regress_jpeg_dht_short_segment",
                           "regress_jpeg_dht_fill_before_soi"}) {
    const std::vector<uint8_t> bytes = read_seed(name);
    ASSERT_FALSE(bytes.empty()) << name;
    FloatTensor t;
    std::string error;
    EXPECT_FALSE(decode_image(bytes.data() + 1, bytes.size() - 1, ImagePreprocess{}, &t, &error)) << name;
    EXPECT_NE(error.find("Huffman"), std::string::npos) << name << ": " << error;
  }
}

// A corrupt JPEG whose dequantised coefficients overflow int in stb_image's decoder (undefined
// behaviour the sanitize lane's fuzzer found): image.cc is built with -fwrapv, so it decodes to
// some pixels or fails with a message, and never trips UBSan (this test runs in that lane too).
TEST(Image, CorruptJpegCoefficientsAreDefinedBehaviour) {
  const std::vector<uint8_t> bytes = read_seed("regress_jpeg_coefficient_overflow");
  ASSERT_FALSE(bytes.empty());
  ImagePreprocess pre;
  pre.gray = (bytes[0] & 1) != 0;
  FloatTensor t;
  std::string error;
  if (!decode_image(bytes.data() + 1, bytes.size() - 1, pre, &t, &error)) {
    EXPECT_FALSE(error.empty());
  }
}

// A PNG whose IDAT chunk declares far more bytes than the file holds: stb_image would grow its
// buffer to the declared length first (2 GB, the fuzzer's out-of-memory); kiln refuses it before.
// The same chunk length inside the file's size still decodes a valid PNG.
TEST(Image, RefusesPngChunksLongerThanTheFile) {
  const std::vector<uint8_t> bytes = read_seed("regress_png_chunk_length_past_end");
  ASSERT_FALSE(bytes.empty());
  FloatTensor t;
  std::string error;
  EXPECT_FALSE(decode_image(bytes.data() + 1, bytes.size() - 1, ImagePreprocess{}, &t, &error));
  EXPECT_NE(error.find("more than the file holds"), std::string::npos) << error;
  // A valid PNG (a fuzzer seed too: its first byte is the option byte) passes the same check.
  const std::vector<uint8_t> png = read_seed("rgb.png");
  ASSERT_FALSE(png.empty());
  EXPECT_TRUE(decode_image(png.data() + 1, png.size() - 1, ImagePreprocess{}, &t, &error)) << error;
}

TEST(Image, ParsesCommandLineSpellings) {
  std::vector<float> v;
  std::string error;
  ASSERT_TRUE(parse_float_list("0.485,0.456,0.406", &v, &error));
  EXPECT_EQ(v.size(), 3u);
  EXPECT_FALSE(parse_float_list("0.5,,1", &v, &error));
  EXPECT_FALSE(parse_float_list("nan", &v, &error));
  int h = 0, w = 0;
  ASSERT_TRUE(parse_size("224x160", &h, &w, &error));
  EXPECT_EQ(h, 224);
  EXPECT_EQ(w, 160);
  ASSERT_TRUE(parse_size("28", &h, &w, &error));
  EXPECT_EQ(w, 28);
  EXPECT_FALSE(parse_size("0x5", &h, &w, &error));
  EXPECT_FALSE(parse_size("12x", &h, &w, &error));
  Layout l;
  EXPECT_TRUE(parse_layout("nhwc", &l, &error));
  EXPECT_EQ(l, Layout::nhwc);
  EXPECT_FALSE(parse_layout("chw", &l, &error));
  EXPECT_TRUE(is_image_file("a/B.JPEG"));
  EXPECT_FALSE(is_image_file("a.png/readme"));
}

}  // namespace
}  // namespace kiln::calib
