#include "kiln/calib/data/image.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "file_io.h"

// stb_image, private to this file: static functions only, the decoders kiln documents, and no stdio
// (kiln reads the bytes itself). STBI_MAX_DIMENSIONS refuses absurd headers before allocating.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM
#define STBI_MAX_DIMENSIONS (1 << 16)
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace kiln::calib {

bool ImagePreprocess::validate(std::string* error) const {
  if (height < 0 || width < 0 || height > 65536 || width > 65536 || (height == 0) != (width == 0)) {
    *error = "image size must be HxW with both in [1, 65536]";
    return false;
  }
  for (const auto* v : {&mean, &std}) {
    const char* what = v == &mean ? "mean" : "std";
    if (!v->empty() && v->size() != 1 && v->size() != static_cast<size_t>(channels())) {
      *error = std::string(what) + " has " + std::to_string(v->size()) + " values; the images have " +
               std::to_string(channels()) + " channel(s)" + (gray ? " (--gray)" : "");
      return false;
    }
    for (float x : *v) {
      if (!std::isfinite(x) || (v == &std && x == 0.0f)) {
        *error = std::string(what) + " values must be finite" + (v == &std ? " and non-zero" : "");
        return false;
      }
    }
  }
  return true;
}

bool parse_float_list(const std::string& text, std::vector<float>* out, std::string* error) {
  std::vector<float> values;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    char* end = nullptr;
    const float v = item.empty() ? 0.0f : std::strtof(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size() || !std::isfinite(v)) {
      *error = "'" + text + "' is not a comma-separated list of numbers";
      return false;
    }
    values.push_back(v);
    start = comma + 1;
  }
  *out = std::move(values);
  return true;
}

bool parse_size(const std::string& text, int* height, int* width, std::string* error) {
  const size_t x = text.find_first_of("xX");
  const std::string h = text.substr(0, x);
  const std::string w = x == std::string::npos ? h : text.substr(x + 1);
  auto number = [](const std::string& s, int* v) {
    if (s.empty() || s.size() > 5 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    *v = std::atoi(s.c_str());
    return *v >= 1 && *v <= 65536;
  };
  int hv = 0, wv = 0;
  if (!number(h, &hv) || !number(w, &wv)) {
    *error = "'" + text + "' is not a size (HxW, e.g. 224x224, or one number for a square)";
    return false;
  }
  *height = hv;
  *width = wv;
  return true;
}

bool parse_layout(const std::string& text, Layout* out, std::string* error) {
  if (text == "nchw" || text == "NCHW") {
    *out = Layout::nchw;
  } else if (text == "nhwc" || text == "NHWC") {
    *out = Layout::nhwc;
  } else {
    *error = "layout '" + text + "' is not nchw or nhwc";
    return false;
  }
  return true;
}

bool is_image_file(const std::string& path) {
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || path.find('/', dot) != std::string::npos) return false;
  std::string ext = path.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == "png" || ext == "jpg" || ext == "jpeg" || ext == "bmp" || ext == "pgm" || ext == "ppm" || ext == "pnm";
}

namespace {

// One output coordinate's two source taps and the weight of the second, for bilinear resizing with
// half-pixel centres (align_corners=False), clamped at the edges like PyTorch's upsample_bilinear2d.
struct Tap {
  int i0, i1;
  float w1;
};

std::vector<Tap> taps(int in, int out) {
  std::vector<Tap> t(static_cast<size_t>(out));
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int o = 0; o < out; ++o) {
    float src = (static_cast<float>(o) + 0.5f) * scale - 0.5f;
    src = src < 0.0f ? 0.0f : src;
    const int i0 = std::min(static_cast<int>(src), in - 1);
    const int i1 = std::min(i0 + 1, in - 1);
    t[static_cast<size_t>(o)] = {i0, i1, src - static_cast<float>(i0)};
  }
  return t;
}

// stb_image grows its PNG data buffer to the length a chunk header declares before it reads the
// chunk, so a few bytes declaring a 2 GB IDAT allocate 2 GB (found by the image fuzzer). kiln walks
// the chunks first and refuses one whose declared length runs past the end of the file.
bool check_png_chunks(const uint8_t* b, size_t size, std::string* error) {
  static const uint8_t kSignature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
  if (size < 8 || !std::equal(kSignature, kSignature + 8, b)) return true;  // not a PNG
  size_t pos = 8;
  while (pos + 8 <= size) {
    const uint32_t len = (uint32_t{b[pos]} << 24) | (uint32_t{b[pos + 1]} << 16) | (uint32_t{b[pos + 2]} << 8) |
                         uint32_t{b[pos + 3]};
    const std::string type(reinterpret_cast<const char*>(b + pos + 4), 4);
    if (len > size - pos - 8) {
      *error = "PNG chunk '" + type + "' declares " + std::to_string(len) + " bytes, more than the file holds";
      return false;
    }
    if (type == "IEND") break;
    pos += 12 + static_cast<size_t>(len);  // length, type, data, CRC
  }
  return true;
}

// This stb_image release neither checks that a binary PNM holds all its pixels (it would hand back
// uninitialised memory) nor guards its header numbers against int overflow: kiln checks the header
// (P5 gray / P6 RGB; width, height, maxval) and the pixel count itself before stb_image sees it.
bool check_pnm(const uint8_t* b, size_t size, std::string* error) {
  if (size < 2 || b[0] != 'P' || (b[1] != '5' && b[1] != '6')) return true;  // not a binary PNM
  size_t i = 2;
  uint64_t field[3] = {0, 0, 0};
  for (uint64_t& f : field) {
    while (i < size && (std::isspace(b[i]) || b[i] == '#')) {
      if (b[i] == '#') {
        while (i < size && b[i] != '\n' && b[i] != '\r') ++i;
      } else {
        ++i;
      }
    }
    size_t digits = 0;
    while (i < size && std::isdigit(b[i])) {
      if (++digits > 6) {
        *error = "PNM header holds a number that is too large";
        return false;
      }
      f = f * 10 + static_cast<uint64_t>(b[i++] - '0');
    }
    if (digits == 0) {
      *error = "malformed PNM header";
      return false;
    }
  }
  if (field[0] == 0 || field[1] == 0 || field[0] > 65536 || field[1] > 65536 || field[2] == 0 || field[2] > 65535) {
    *error = "PNM header with an unsupported size or maxval";
    return false;
  }
  ++i;  // the single whitespace character after maxval
  const uint64_t need = field[0] * field[1] * (b[1] == '6' ? 3u : 1u) * (field[2] > 255 ? 2u : 1u);
  if (i > size || size - i < need) {
    *error = "truncated PNM image (fewer pixels than its header announces)";
    return false;
  }
  return true;
}

// This stb_image release writes past a 257-entry array when a JPEG Huffman table (DHT) declares more
// than 256 codes (fixed upstream later). Wherever stb_image could meet a DHT marker (0xFF 0xC4 cannot
// occur inside valid entropy-coded data, so every occurrence is checked), read the tables the way it
// does (missing bytes read as 0, tables until the segment length is used up) and refuse the file if
// one declares more than 256 codes.
bool check_jpeg_huffman_tables(const uint8_t* b, size_t size, std::string* error) {
  // stb_image takes any run of 0xFF fill bytes before the SOI marker (0xD8) as a JPEG.
  size_t soi = 0;
  while (soi < size && b[soi] == 0xFF) ++soi;
  if (soi == 0 || soi >= size || b[soi] != 0xD8) return true;  // not a JPEG
  auto at = [&](size_t k) -> size_t { return k < size ? b[k] : 0; };
  for (size_t i = soi + 1; i + 1 < size; ++i) {
    if (b[i] != 0xFF || b[i + 1] != 0xC4) continue;
    int64_t left = static_cast<int64_t>((at(i + 2) << 8) | at(i + 3)) - 2;
    size_t p = i + 4;
    while (left > 0 && p < size + 17) {
      size_t codes = 0;
      for (size_t k = 1; k <= 16; ++k) codes += at(p + k);
      if (codes > 256) {
        *error = "corrupt JPEG (a Huffman table with more than 256 codes)";
        return false;
      }
      p += 17 + codes;
      left -= static_cast<int64_t>(17 + codes);
    }
  }
  return true;
}

}  // namespace

bool preprocess_pixels(const uint8_t* pixels, int height, int width, int channels, const ImagePreprocess& pre,
                       FloatTensor* out, std::string* error) {
  if (!pre.validate(error)) return false;
  if (height <= 0 || width <= 0 || (channels != 1 && channels != 3) ||
      static_cast<int64_t>(height) * width > kMaxImagePixels) {
    *error = "image of " + std::to_string(width) + "x" + std::to_string(height) + "x" + std::to_string(channels) +
             " is empty, too large or has an unsupported channel count";
    return false;
  }
  const int c_out = pre.channels();
  const size_t hw = static_cast<size_t>(height) * static_cast<size_t>(width);
  // Planar float image in [0, 1], after the optional gray conversion.
  std::vector<float> plane(hw * static_cast<size_t>(c_out));
  for (size_t p = 0; p < hw; ++p) {
    const uint8_t* px = pixels + p * static_cast<size_t>(channels);
    if (c_out == 1) {
      uint32_t l = px[0];
      if (channels == 3) l = (19595u * px[0] + 38470u * px[1] + 7471u * px[2] + 32768u) >> 16;
      plane[p] = static_cast<float>(l) / 255.0f;
    } else {
      for (int c = 0; c < 3; ++c) {
        plane[static_cast<size_t>(c) * hw + p] = static_cast<float>(px[channels == 3 ? c : 0]) / 255.0f;
      }
    }
  }
  const int oh = pre.height ? pre.height : height;
  const int ow = pre.width ? pre.width : width;
  if (static_cast<int64_t>(oh) * ow > kMaxImagePixels) {
    *error = "resized image too large";
    return false;
  }
  const size_t ohw = static_cast<size_t>(oh) * static_cast<size_t>(ow);
  std::vector<float> resized;
  if (oh == height && ow == width) {
    resized.swap(plane);
  } else {
    resized.resize(ohw * static_cast<size_t>(c_out));
    const std::vector<Tap> ty = taps(height, oh), tx = taps(width, ow);
    for (int c = 0; c < c_out; ++c) {
      const float* src = plane.data() + static_cast<size_t>(c) * hw;
      float* dst = resized.data() + static_cast<size_t>(c) * ohw;
      for (int y = 0; y < oh; ++y) {
        const Tap& a = ty[static_cast<size_t>(y)];
        const float* r0 = src + static_cast<size_t>(a.i0) * static_cast<size_t>(width);
        const float* r1 = src + static_cast<size_t>(a.i1) * static_cast<size_t>(width);
        for (int x = 0; x < ow; ++x) {
          const Tap& b = tx[static_cast<size_t>(x)];
          const float top = r0[b.i0] * (1.0f - b.w1) + r0[b.i1] * b.w1;
          const float bottom = r1[b.i0] * (1.0f - b.w1) + r1[b.i1] * b.w1;
          dst[static_cast<size_t>(y) * static_cast<size_t>(ow) + static_cast<size_t>(x)] =
              top * (1.0f - a.w1) + bottom * a.w1;
        }
      }
    }
  }
  FloatTensor t;
  t.data.resize(ohw * static_cast<size_t>(c_out));
  for (int c = 0; c < c_out; ++c) {
    const size_t ci = static_cast<size_t>(c);
    const float m = pre.mean.empty() ? 0.0f : pre.mean[pre.mean.size() == 1 ? 0 : ci];
    const float s = pre.std.empty() ? 1.0f : pre.std[pre.std.size() == 1 ? 0 : ci];
    const float* src = resized.data() + ci * ohw;
    for (size_t p = 0; p < ohw; ++p) {
      const float v = (src[p] - m) / s;
      if (pre.layout == Layout::nchw) {
        t.data[ci * ohw + p] = v;
      } else {
        t.data[p * static_cast<size_t>(c_out) + ci] = v;
      }
    }
  }
  if (pre.layout == Layout::nchw) {
    t.shape = {1, c_out, oh, ow};
  } else {
    t.shape = {1, oh, ow, c_out};
  }
  *out = std::move(t);
  return true;
}

bool decode_image(const void* bytes, size_t size, const ImagePreprocess& pre, FloatTensor* out, std::string* error) {
  if (size == 0 || size > static_cast<size_t>(INT32_MAX)) {
    *error = size == 0 ? "empty image file" : "image file too large";
    return false;
  }
  const auto* b = static_cast<const stbi_uc*>(bytes);
  const int len = static_cast<int>(size);
  if (!check_pnm(b, size, error) || !check_jpeg_huffman_tables(b, size, error) || !check_png_chunks(b, size, error)) {
    return false;
  }
  int w = 0, h = 0, n = 0;
  if (!stbi_info_from_memory(b, len, &w, &h, &n)) {
    *error = std::string("cannot decode image (") + stbi_failure_reason() + ")";
    return false;
  }
  if (w <= 0 || h <= 0 || static_cast<int64_t>(w) * h > kMaxImagePixels) {
    *error = "image of " + std::to_string(w) + "x" + std::to_string(h) + " pixels is too large";
    return false;
  }
  // Gray sources decode as one channel, everything else as RGB; preprocess_pixels converts between.
  const int want = (n == 1 || n == 2) ? 1 : 3;
  stbi_uc* pixels = stbi_load_from_memory(b, len, &w, &h, &n, want);
  if (!pixels) {
    *error = std::string("cannot decode image (") + stbi_failure_reason() + ")";
    return false;
  }
  const bool ok = preprocess_pixels(pixels, h, w, want, pre, out, error);
  stbi_image_free(pixels);
  return ok;
}

bool load_image(const std::string& path, const ImagePreprocess& pre, FloatTensor* out, std::string* error) {
  std::vector<uint8_t> bytes;
  if (!detail::read_file(path, &bytes, error, size_t{1} << 30)) return false;
  if (!decode_image(bytes.data(), bytes.size(), pre, out, error)) {
    *error = path + ": " + *error;
    return false;
  }
  return true;
}

}  // namespace kiln::calib
