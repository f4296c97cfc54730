#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "kiln/calib/data/npy.h"
#include "test_util.h"

namespace kiln::calib {
namespace {
using testing::ScratchDir;
using testing::source_dir;

std::string golden(const std::string& name) { return source_dir() + "/npy/" + name; }

FloatTensor read_ok(const std::string& path) {
  FloatTensor t;
  std::string error;
  EXPECT_TRUE(read_npy_float(path, &t, &error)) << error;
  return t;
}

// Files written by numpy 1.24 (tests/calib/data/npy, made with np.save / numpy.lib.format).
TEST(Npy, ReadsNumpyFilesOfEveryDtypeOrderAndVersion) {
  FloatTensor t = read_ok(golden("f32_c.npy"));
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.data, (std::vector<float>{-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f}));

  t = read_ok(golden("f64_fortran.npy"));  // Fortran order: converted to C order
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.data, (std::vector<float>{0, 1, 2, 3, 4, 5}));

  t = read_ok(golden("i64_be.npy"));  // big-endian int64
  EXPECT_EQ(t.data, (std::vector<float>{-3, -2, -1, 0, 1, 2}));

  t = read_ok(golden("u8_3d.npy"));
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(t.data[23], 23.0f);

  t = read_ok(golden("i8_scalar.npy"));  // 0-d array
  EXPECT_TRUE(t.shape.empty());
  EXPECT_EQ(t.data, (std::vector<float>{-5.0f}));

  t = read_ok(golden("i32_v2.npy"));  // format version 2.0
  EXPECT_EQ(t.data, (std::vector<float>{1, -2, 3, -4}));
  t = read_ok(golden("f32_v3.npy"));  // format version 3.0
  EXPECT_EQ(t.data, (std::vector<float>{1.5f, 2.5f}));

  TypedArray typed;
  std::string error;
  ASSERT_TRUE(read_npy(golden("u8_3d.npy"), &typed, &error)) << error;
  EXPECT_EQ(typed.dtype, DType::u8);
  EXPECT_EQ(typed.bytes.size(), 24u);
}

TEST(Npy, NaNIsReportedWithTheFileName) {
  FloatTensor t;
  std::string error;
  EXPECT_FALSE(read_npy_float(golden("nan_sample1.npy"), &t, &error));
  EXPECT_NE(error.find("nan_sample1.npy"), std::string::npos) << error;
  EXPECT_NE(error.find("NaN"), std::string::npos) << error;
  EXPECT_TRUE(read_npy_float(golden("nan_sample1.npy"), &t, &error, /*allow_non_finite=*/true)) << error;

  NpyRowReader rows;
  ASSERT_TRUE(rows.open(golden("nan_sample1.npy"), &error)) << error;
  std::vector<float> buf(4 * 3);
  EXPECT_TRUE(rows.read_rows(0, 1, buf.data(), &error)) << error;
  EXPECT_FALSE(rows.read_rows(0, 3, buf.data(), &error));
  EXPECT_NE(error.find("sample 1"), std::string::npos) << error;
}

TEST(Npy, WriteThenReadRoundTripsEveryDtype) {
  ScratchDir dir;
  for (DType t : {DType::f32, DType::f64, DType::u8, DType::i8, DType::i16, DType::i32, DType::i64}) {
    TypedArray a;
    a.dtype = t;
    a.shape = {3, 1, 2};
    a.bytes.resize(6 * dtype_size(t));
    for (size_t i = 0; i < a.bytes.size(); ++i) a.bytes[i] = static_cast<uint8_t>(i * 7 + 1);
    if (t == DType::f32 || t == DType::f64) {  // keep floats finite
      for (size_t i = 0; i < 6; ++i) {
        if (t == DType::f32) {
          const float v = static_cast<float>(i) - 2.5f;
          std::memcpy(a.bytes.data() + 4 * i, &v, 4);
        } else {
          const double v = static_cast<double>(i) * 1.25;
          std::memcpy(a.bytes.data() + 8 * i, &v, 8);
        }
      }
    }
    const std::string path = dir / (std::string(dtype_name(t)) + ".npy");
    std::string error;
    ASSERT_TRUE(write_npy(path, a, &error)) << error;
    TypedArray b;
    ASSERT_TRUE(read_npy(path, &b, &error)) << error;
    EXPECT_EQ(b.dtype, t);
    EXPECT_EQ(b.shape, a.shape);
    EXPECT_EQ(b.bytes, a.bytes);
    // numpy requires the data to start at a multiple of 64 bytes.
    NpyHeader h;
    const std::vector<uint8_t> enc = encode_npy(a);
    ASSERT_TRUE(parse_npy_header(enc.data(), enc.size(), &h, &error)) << error;
    EXPECT_EQ(h.data_offset % 64, 0u);
  }
  // One dimension is written as Python's one-element tuple "(5,)".
  TypedArray v;
  v.dtype = DType::u8;
  v.shape = {5};
  v.bytes.assign(5, 1);
  const std::vector<uint8_t> enc = encode_npy(v);
  EXPECT_NE(std::string(enc.begin(), enc.end()).find("'shape': (5,)"), std::string::npos);
}

TEST(Npy, WriteIsAtomicAndFailsCleanlyInAMissingFolder) {
  ScratchDir dir;
  FloatTensor t{{2}, {1.0f, 2.0f}};
  std::string error;
  EXPECT_FALSE(write_npy(dir / "missing/out.npy", t, &error));
  EXPECT_NE(error.find("missing/out.npy"), std::string::npos) << error;
  ASSERT_TRUE(write_npy(dir / "out.npy", t, &error)) << error;
  // Overwriting replaces the file in one step and leaves no temporary behind.
  t.data = {3.0f, 4.0f};
  ASSERT_TRUE(write_npy(dir / "out.npy", t, &error)) << error;
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
  EXPECT_EQ(read_ok(dir / "out.npy").data, t.data);
}

std::vector<uint8_t> with_header(const std::string& dict, int major = 1) {
  std::vector<uint8_t> b = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  const size_t n = dict.size();
  b.push_back(static_cast<uint8_t>(n));
  b.push_back(static_cast<uint8_t>(n >> 8));
  if (major >= 2) {
    b.push_back(0);
    b.push_back(0);
  }
  b.insert(b.end(), dict.begin(), dict.end());
  return b;
}

TEST(Npy, RejectsMalformedFilesWithClearMessages) {
  struct Case {
    std::vector<uint8_t> bytes;
    const char* expect;
  };
  std::vector<uint8_t> good = with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n");
  std::vector<uint8_t> truncated = good;
  truncated.insert(truncated.end(), 7, 0);  // 7 of the 8 data bytes
  std::vector<uint8_t> trailing = good;
  trailing.insert(trailing.end(), 9, 0);
  const std::vector<Case> cases = {
      {{}, "bad magic"},
      {{'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0, 0}, "bad magic"},
      {with_header("{}", 9), "version"},
      {with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"), "truncated"},
      {truncated, "truncated"},
      {trailing, "unexpected bytes"},
      {with_header("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }"), "unsupported dtype"},
      {with_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"), "structured"},
      {with_header("{'descr': '<f4', 'shape': (1,), }"), "lacks"},
      {with_header("{'descr': '<f4', 'fortran_order': maybe, 'shape': (1,), }"), "fortran_order"},
      {with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"), "shape"},
      {with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }"), "too large"},
      {with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }"), "too large"},
      {with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,"), "shape"},
      {std::vector<uint8_t>(good.begin(), good.begin() + 11), "truncated"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    TypedArray a;
    std::string error;
    EXPECT_FALSE(parse_npy(cases[i].bytes.data(), cases[i].bytes.size(), &a, &error)) << "case " << i;
    EXPECT_NE(error.find(cases[i].expect), std::string::npos) << "case " << i << ": " << error;
  }
  TypedArray a;
  std::string error;
  EXPECT_FALSE(read_npy("/nonexistent/x.npy", &a, &error));
  EXPECT_NE(error.find("/nonexistent/x.npy"), std::string::npos);
}

TEST(Npy, RowReaderStreamsRowsOfACOrderAndAFortranOrderFile) {
  ScratchDir dir;
  FloatTensor t{{5, 2, 3}, {}};
  for (int i = 0; i < 30; ++i) t.data.push_back(static_cast<float>(i) * 0.25f);
  std::string error;
  ASSERT_TRUE(write_npy(dir / "rows.npy", t, &error)) << error;
  NpyRowReader r;
  ASSERT_TRUE(r.open(dir / "rows.npy", &error)) << error;
  EXPECT_EQ(r.rows(), 5u);
  EXPECT_EQ(r.row_elements(), 6u);
  std::vector<float> buf(12);
  ASSERT_TRUE(r.read_rows(3, 2, buf.data(), &error)) << error;
  EXPECT_EQ(buf, std::vector<float>(t.data.begin() + 18, t.data.end()));
  EXPECT_FALSE(r.read_rows(4, 2, buf.data(), &error));

  NpyRowReader f;
  ASSERT_TRUE(f.open(golden("f64_fortran.npy"), &error)) << error;
  ASSERT_TRUE(f.read_rows(1, 1, buf.data(), &error)) << error;
  EXPECT_EQ(std::vector<float>(buf.begin(), buf.begin() + 3), (std::vector<float>{3, 4, 5}));
}

}  // namespace
}  // namespace kiln::calib
