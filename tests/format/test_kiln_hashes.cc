// The two hashes of the format against published/reference values: SHA-256 (FIPS 180-4 examples)
// for the source model, XXH64 (values from the xxhsum tool) for the trailer checksum.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "kiln/format/kiln_file.h"
#include "kiln/format/sha256.h"

namespace kiln {
namespace {

std::string sha_hex(const std::string& s) {
  const auto d = sha256(s.data(), s.size());
  return hex_string(d.data(), d.size());
}

TEST(Sha256, FipsExamples) {
  EXPECT_EQ(sha_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalEqualsOneShotAtEveryPaddingBoundary) {
  std::string s;
  for (int i = 0; i < 200; ++i) s += static_cast<char>(i * 13 + 5);
  for (size_t len : {55u, 56u, 57u, 63u, 64u, 65u, 119u, 120u, 128u, 200u}) {
    const std::string m = s.substr(0, len);
    for (size_t split : {size_t{0}, size_t{1}, len / 2, len}) {
      Sha256 h;
      h.update(m.data(), split);
      h.update(m.data() + split, len - split);
      EXPECT_EQ(h.finish(), sha256(m.data(), m.size())) << len << " split " << split;
    }
  }
}

TEST(Sha256, File) {
  const auto path = std::filesystem::temp_directory_path() / ("kiln_sha_" + std::to_string(::getpid()));
  { std::ofstream(path) << "abc"; }
  std::array<uint8_t, 32> d{};
  std::string error;
  ASSERT_TRUE(sha256_file(path.string(), &d, &error)) << error;
  EXPECT_EQ(hex_string(d.data(), 32), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::filesystem::remove(path);
  EXPECT_FALSE(sha256_file(path.string(), &d, &error));
}

TEST(Checksum, Xxh64ReferenceValues) {
  EXPECT_EQ(kiln_checksum("", 0), 0xef46db3751d8e999ull);
  EXPECT_EQ(kiln_checksum("abc", 3), 0x44bc2cf5ad770999ull);
  const std::string fox = "The quick brown fox jumps over the lazy dog.";
  EXPECT_EQ(kiln_checksum(fox.data(), fox.size()), 0x44ad33705751ad73ull);  // 44 bytes: stripe + 8 + 4
  const std::string zeros(100, '\0');
  EXPECT_EQ(kiln_checksum(zeros.data(), zeros.size()), 0x17bb1103c92c502full);
  std::string bytes;
  for (int r = 0; r < 3; ++r) {
    for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  }
  EXPECT_EQ(kiln_checksum(bytes.data(), bytes.size()), 0x8e03c838c596036full);
  std::string big(1000003, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7 + 3) & 255);
  EXPECT_EQ(kiln_checksum(big.data(), big.size()), 0x293d731da18115efull);
}

}  // namespace
}  // namespace kiln
