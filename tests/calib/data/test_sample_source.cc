#include <gtest/gtest.h>

#include <filesystem>

#include "kiln/calib/data/npy.h"
#include "kiln/calib/data/sample_source.h"
#include "test_util.h"

namespace kiln::calib {
namespace {
using testing::ScratchDir;

// Writes a w x h gray PGM whose pixels are all `value`.
void write_pgm(const std::string& path, int w, int h, uint8_t value) {
  std::string s = "P5\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n";
  s.append(static_cast<size_t>(w * h), static_cast<char>(value));
  testing::write_text(path, s);
}

std::unique_ptr<SampleSource> open_ok(const std::string& spec, const SourceOptions& o = {}) {
  std::unique_ptr<SampleSource> s;
  std::string error;
  EXPECT_TRUE(open_sources(spec, o, &s, &error)) << error;
  return s;
}

std::string open_error(const std::string& spec, const SourceOptions& o = {}) {
  std::unique_ptr<SampleSource> s;
  std::string error;
  EXPECT_FALSE(open_sources(spec, o, &s, &error)) << spec;
  return error;
}

TEST(SampleSource, ImageFolderIsSortedBatchedPreprocessedAndRewindable) {
  ScratchDir dir;
  // Names sort as b0 < b1 < b10 < b2 (byte order).
  const std::pair<const char*, uint8_t> files[] = {{"b10.pgm", 30}, {"b2.pgm", 40}, {"b0.pgm", 10}, {"b1.pgm", 20}};
  for (const auto& [name, v] : files) write_pgm(dir / name, 4, 2, v);
  testing::write_text(dir / "notes.txt", "ignored");
  SourceOptions o;
  o.preprocess.gray = true;
  o.preprocess.mean = {0.5f};
  o.preprocess.std = {0.5f};
  auto src = open_ok(dir.path(), o);
  ASSERT_TRUE(src);
  EXPECT_EQ(src->size(), 4u);
  EXPECT_EQ(src->sample_shape(0), (std::vector<int64_t>{1, 2, 4}));
  SampleBatch b;
  std::string error;
  ASSERT_TRUE(src->next(3, &b, &error)) << error;
  ASSERT_EQ(b.count, 3u);
  EXPECT_EQ(b.inputs[0].shape, (std::vector<int64_t>{3, 1, 2, 4}));
  const float expect[] = {10, 20, 30};
  for (int i = 0; i < 3; ++i) EXPECT_FLOAT_EQ(b.inputs[0].data[static_cast<size_t>(i) * 8], (expect[i] / 255.0f - 0.5f) / 0.5f);
  EXPECT_NE(b.origins[2].find("b10.pgm"), std::string::npos);
  ASSERT_TRUE(src->next(3, &b, &error)) << error;
  EXPECT_EQ(b.count, 1u);
  ASSERT_TRUE(src->next(3, &b, &error)) << error;
  EXPECT_EQ(b.count, 0u);
  ASSERT_TRUE(src->rewind(&error));
  ASSERT_TRUE(src->next(10, &b, &error)) << error;
  EXPECT_EQ(b.count, 4u);

  o.limit = 2;
  EXPECT_EQ(open_ok(dir.path(), o)->size(), 2u);
  o.limit = 0;
  o.preprocess.height = 6;
  o.preprocess.width = 6;
  EXPECT_EQ(open_ok(dir.path(), o)->sample_shape(0), (std::vector<int64_t>{1, 6, 6}));
}

TEST(SampleSource, ImageFolderLayoutGivesLabelsFromSortedClassFolders) {
  ScratchDir dir;
  std::filesystem::create_directories(dir / "dog");
  std::filesystem::create_directories(dir / "cat");
  write_pgm(dir / "dog/1.pgm", 2, 2, 1);
  write_pgm(dir / "cat/1.pgm", 2, 2, 2);
  write_pgm(dir / "cat/2.pgm", 2, 2, 3);
  auto src = open_ok(dir.path());
  ASSERT_TRUE(src);
  EXPECT_EQ(src->class_names(), (std::vector<std::string>{"cat", "dog"}));
  SampleBatch b;
  std::string error;
  ASSERT_TRUE(src->next(8, &b, &error)) << error;
  EXPECT_EQ(b.labels, (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(b.inputs[0].shape, (std::vector<int64_t>{3, 3, 2, 2}));  // RGB by default
}

TEST(SampleSource, NpyFileFolderAndNamedInputs) {
  ScratchDir dir;
  FloatTensor all{{3, 2}, {1, 2, 3, 4, 5, 6}};
  std::string error;
  ASSERT_TRUE(write_npy(dir / "all.npy", all, &error)) << error;
  std::filesystem::create_directories(dir / "each");
  ASSERT_TRUE(write_npy(dir / "each/0.npy", FloatTensor{{1, 2}, {7, 8}}, &error));  // [1, ...] is one sample
  ASSERT_TRUE(write_npy(dir / "each/1.npy", FloatTensor{{2}, {9, 10}}, &error));
  ASSERT_TRUE(write_npy(dir / "each/2.npy", FloatTensor{{2}, {11, 12}}, &error));
  auto file = open_ok(dir / "all.npy");
  EXPECT_EQ(file->sample_shape(0), (std::vector<int64_t>{2}));
  SampleBatch b;
  ASSERT_TRUE(file->next(2, &b, &error)) << error;
  EXPECT_EQ(b.inputs[0].data, (std::vector<float>{1, 2, 3, 4}));
  auto folder = open_ok(dir / "each");
  ASSERT_TRUE(folder->next(5, &b, &error)) << error;
  EXPECT_EQ(b.inputs[0].data, (std::vector<float>{7, 8, 9, 10, 11, 12}));

  auto zip = open_ok("x=" + dir / "all.npy" + ",y=" + dir / "each");
  EXPECT_EQ(zip->input_names(), (std::vector<std::string>{"x", "y"}));
  ASSERT_TRUE(zip->next(3, &b, &error)) << error;
  ASSERT_EQ(b.inputs.size(), 2u);
  EXPECT_EQ(b.inputs[1].data[0], 7.0f);

  ASSERT_TRUE(write_npy(dir / "two.npy", FloatTensor{{2, 2}, {1, 2, 3, 4}}, &error));
  EXPECT_NE(open_error("x=" + dir / "all.npy" + ",y=" + dir / "two.npy").find("samples"), std::string::npos);
  EXPECT_NE(open_error("x=" + dir / "all.npy" + ",x=" + dir / "all.npy").find("twice"), std::string::npos);

  // Shape check against a model input with a dynamic batch.
  EXPECT_TRUE(check_sample_shape(*file, 0, {-1, 2}, &error)) << error;
  EXPECT_FALSE(check_sample_shape(*file, 0, {-1, 1, 28, 28}, &error));
  EXPECT_NE(error.find("[?,1,28,28]"), std::string::npos) << error;
}

TEST(SampleSource, IdxImagesGetTheImagePreprocessing) {
  ScratchDir dir;
  std::vector<uint8_t> px(3 * 2 * 2);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 20);
  testing::write_bytes(dir / "imgs-idx3-ubyte", testing::idx_bytes(0x08, {3, 2, 2}, px));
  SourceOptions o;
  o.preprocess.mean = {0.2860f};
  o.preprocess.std = {0.3530f};
  auto src = open_ok(dir / "imgs-idx3-ubyte", o);
  EXPECT_EQ(src->sample_shape(0), (std::vector<int64_t>{1, 2, 2}));  // one channel stays one channel
  SampleBatch b;
  std::string error;
  ASSERT_TRUE(src->next(2, &b, &error)) << error;
  EXPECT_FLOAT_EQ(b.inputs[0].data[5], (100.0f / 255.0f - 0.2860f) / 0.3530f);
  EXPECT_EQ(b.origins[1], dir / "imgs-idx3-ubyte" + "[1]");
}

TEST(SampleSource, BadDataGivesClearErrors) {
  ScratchDir dir;
  EXPECT_NE(open_error(dir / "missing").find("no such file"), std::string::npos);
  std::filesystem::create_directories(dir / "empty");
  EXPECT_NE(open_error(dir / "empty").find("no images or .npy"), std::string::npos);
  std::filesystem::create_directories(dir / "corrupt");
  testing::write_text(dir / "corrupt/a.png", "garbage");
  EXPECT_NE(open_error(dir / "corrupt").find("a.png"), std::string::npos);
  std::filesystem::create_directories(dir / "mixed");
  write_pgm(dir / "mixed/a.pgm", 2, 2, 1);
  std::string error;
  ASSERT_TRUE(write_npy(dir / "mixed/b.npy", FloatTensor{{1}, {1}}, &error));
  EXPECT_NE(open_error(dir / "mixed").find("mixes"), std::string::npos);
  std::filesystem::create_directories(dir / "sizes");
  write_pgm(dir / "sizes/a.pgm", 2, 2, 1);
  write_pgm(dir / "sizes/b.pgm", 3, 2, 1);
  auto src = open_ok(dir / "sizes");
  SampleBatch b;
  EXPECT_FALSE(src->next(2, &b, &error));
  EXPECT_NE(error.find("--size"), std::string::npos) << error;
  // A later corrupt image is reported when reached, with its name.
  std::filesystem::create_directories(dir / "late");
  write_pgm(dir / "late/a.pgm", 2, 2, 1);
  testing::write_text(dir / "late/b.pgm", "P5\n2 2\n255\n");  // no pixels
  src = open_ok(dir / "late");
  EXPECT_FALSE(src->next(2, &b, &error));
  EXPECT_NE(error.find("b.pgm"), std::string::npos) << error;
  // Wrong IDX magic, empty file, NaN in a .npy.
  testing::write_bytes(dir / "bad-idx", {0x00, 0x00, 0x42, 0x01, 0, 0, 0, 1, 0});
  EXPECT_NE(open_error(dir / "bad-idx").find("magic"), std::string::npos);
  testing::write_text(dir / "zero", "");
  EXPECT_NE(open_error(dir / "zero").find("empty"), std::string::npos);
  src = open_ok(testing::source_dir() + "/npy/nan_sample1.npy");
  EXPECT_FALSE(src->next(3, &b, &error));
  EXPECT_NE(error.find("nan_sample1.npy"), std::string::npos) << error;
  EXPECT_NE(error.find("NaN"), std::string::npos) << error;
  SourceOptions o;
  o.format = DataFormat::idx;
  EXPECT_NE(open_error(dir / "empty", o).find("idx"), std::string::npos);
  DataFormat f;
  EXPECT_FALSE(parse_data_format("csv", &f, &error));
}

}  // namespace
}  // namespace kiln::calib
