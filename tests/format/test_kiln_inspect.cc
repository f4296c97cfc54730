// `kiln inspect`'s logic: the text names every layer, its bits and shapes, marks float layers;
// the JSON is well-formed and carries the same facts.
#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "kiln/format/inspect.h"
#include "kiln_test_util.h"

namespace kiln {
namespace {

// A strict little JSON syntax checker (objects, arrays, strings, numbers, literals).
struct JsonChecker {
  const std::string& s;
  size_t p = 0;
  void ws() {
    while (p < s.size() && std::isspace(static_cast<unsigned char>(s[p]))) ++p;
  }
  bool lit(const char* w) {
    const size_t n = std::char_traits<char>::length(w);
    if (s.compare(p, n, w) != 0) return false;
    p += n;
    return true;
  }
  bool str() {
    if (p >= s.size() || s[p] != '"') return false;
    for (++p; p < s.size(); ++p) {
      const unsigned char c = s[p];
      if (c == '"') return ++p, true;
      if (c < 0x20) return false;
      if (c == '\\') {
        if (++p >= s.size() || std::string("\"\\/bfnrtu").find(s[p]) == std::string::npos) return false;
        if (s[p] == 'u') {
          for (int i = 0; i < 4; ++i) {
            if (++p >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[p]))) return false;
          }
        }
      }
    }
    return false;
  }
  bool num() {
    const size_t start = p;
    if (p < s.size() && s[p] == '-') ++p;
    while (p < s.size() && (std::isdigit(static_cast<unsigned char>(s[p])) || s[p] == '.' || s[p] == 'e' ||
                            s[p] == 'E' || s[p] == '+' || s[p] == '-')) {
      ++p;
    }
    return p > start && std::isdigit(static_cast<unsigned char>(s[p - 1]));
  }
  bool value() {
    ws();
    if (p >= s.size()) return false;
    bool ok;
    if (s[p] == '{') {
      ++p;
      ws();
      if (p < s.size() && s[p] == '}') {
        ++p;
        return true;
      }
      do {
        ws();
        if (!str()) return false;
        ws();
        if (p >= s.size() || s[p++] != ':' || !value()) return false;
        ws();
      } while (p < s.size() && s[p] == ',' && ++p);
      ok = p < s.size() && s[p++] == '}';
    } else if (s[p] == '[') {
      ++p;
      ws();
      if (p < s.size() && s[p] == ']') {
        ++p;
        return true;
      }
      do {
        if (!value()) return false;
        ws();
      } while (p < s.size() && s[p] == ',' && ++p);
      ok = p < s.size() && s[p++] == ']';
    } else if (s[p] == '"') {
      ok = str();
    } else if (lit("true") || lit("false") || lit("null")) {
      ok = true;
    } else {
      ok = num();
    }
    return ok;
  }
  bool document() {
    if (!value()) return false;
    ws();
    return p == s.size();
  }
};

KilnFile sample() {
  KilnFile f;
  std::string error;
  EXPECT_TRUE(test::load_bytes(test::sample_file_bytes(), &f, &error)) << error;
  return f;
}

TEST(KilnInspect, JsonCheckerRejectsBrokenJson) {
  for (const char* bad : {"{", "{\"a\":}", "[1,]", "{\"a\" 1}", "\"x", "{\"a\":1}x", "[01a]", "{'a':1}"}) {
    const std::string s = bad;
    EXPECT_FALSE(JsonChecker{s}.document()) << bad;
  }
  const std::string good = "{\"a\":[1,-2.5e3,\"x\\n\\u0001\",true,null,{}],\"b\":[]}";
  EXPECT_TRUE(JsonChecker{good}.document());
}

TEST(KilnInspect, TextListsLayersBitsAndFloatIslands) {
  const std::string t = inspect_kiln(sample(), "sample.kiln", false);
  EXPECT_NE(t.find("sample.kiln"), std::string::npos);
  EXPECT_NE(t.find("brecq"), std::string::npos);
  for (const char* s : {"conv", "Conv", "relu", "Relu", "kiln.QGemm", "[N,4,8,8]", "per-channel[4] axis 0",
                        "packed_weights(avx512vnni 4x16x4", "sample.onnx"}) {
    EXPECT_NE(t.find(s), std::string::npos) << s << "\n" << t;
  }
  // The relu line (its output has no quantization, it has no weights) is marked float; conv is not.
  const size_t relu = t.find("relu ");
  ASSERT_NE(relu, std::string::npos);
  const std::string relu_line = t.substr(relu, t.find('\n', relu) - relu);
  ASSERT_GE(relu_line.size(), 7u);
  EXPECT_EQ(relu_line.substr(relu_line.size() - 7), "  float") << relu_line;
  const size_t conv = t.find("conv ");
  const std::string conv_line = t.substr(conv, t.find('\n', conv) - conv);
  EXPECT_EQ(conv_line.find("float"), std::string::npos) << conv_line;
  const size_t fc = t.find("fc ");
  const std::string fc_line = t.substr(fc, t.find('\n', fc) - fc);
  EXPECT_NE(fc_line.substr(fc_line.size() - 7), "  float") << fc_line;  // its s4 weight is quantized
  EXPECT_NE(t.find("3 layers (1 float)"), std::string::npos) << t;
}

TEST(KilnInspect, JsonIsWellFormedAndComplete) {
  const KilnFile f = sample();
  const std::string j = inspect_kiln(f, "dir/\"odd\" name.kiln", true);
  EXPECT_TRUE(JsonChecker{j}.document()) << j;
  EXPECT_NE(j.find("\"path\":\"dir/\\\"odd\\\" name.kiln\""), std::string::npos);
  EXPECT_NE(j.find("\"name\":\"relu\",\"op\":\"Relu\",\"float\":true"), std::string::npos) << j;
  EXPECT_NE(j.find("\"name\":\"conv\",\"op\":\"Conv\",\"float\":false"), std::string::npos) << j;
  // Totals: every constant's elements (4*3*3*3 + 4 + 2 + 10*255 + 256*10 + 0).
  EXPECT_NE(j.find("\"parameters\":" + std::to_string(108 + 4 + 2 + 2550 + 2560)), std::string::npos) << j;
  EXPECT_NE(j.find("\"blob_bytes\":472"), std::string::npos) << j;  // 200 + 16 + 256
  EXPECT_NE(j.find("\"file_bytes\":" + std::to_string(f.file_size)), std::string::npos);
  EXPECT_NE(j.find("\"s4\":1275"), std::string::npos) << j;  // 2550 nibbles
  EXPECT_NE(j.find("\"note\":\"a \\\"quoted\\\"\\nline\""), std::string::npos) << j;
}

}  // namespace
}  // namespace kiln
