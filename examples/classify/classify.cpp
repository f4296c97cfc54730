// Classifies an image with a kiln model and prints the top 5 classes.
//
//   classify MODEL.kiln IMAGE [--mean 0.485,0.456,0.406] [--std 0.229,0.224,0.225] [--labels FILE]
//
// The image is resized (bilinear) to the model's input size, scaled to [0, 1], normalised per
// channel and fed as NCHW float32. MODEL.kiln is a float or quantized .kiln file (`kiln quantize`,
// or a float ONNX model saved with `kiln run MODEL.onnx --save-kiln MODEL.kiln`).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO_FILE_FAILURE_REASON
#include <stb/stb_image.h>

#include "kiln/kiln.hpp"

namespace {

std::vector<float> parse_floats(const std::string& s) {
  std::vector<float> v;
  size_t p = 0;
  while (p <= s.size()) {
    const size_t c = s.find(',', p);
    v.push_back(std::strtof(s.substr(p, c - p).c_str(), nullptr));
    if (c == std::string::npos) break;
    p = c + 1;
  }
  return v;
}

// Bilinear resize (half-pixel centres) of an 8-bit RGB image into an NCHW float tensor, normalised.
std::vector<float> preprocess(const unsigned char* px, int w, int h, int out_w, int out_h, const std::vector<float>& mean,
                              const std::vector<float>& std_dev) {
  std::vector<float> out(static_cast<size_t>(3) * out_h * out_w);
  for (int y = 0; y < out_h; ++y) {
    const float sy = std::clamp((y + 0.5f) * h / out_h - 0.5f, 0.0f, static_cast<float>(h - 1));
    const int y0 = static_cast<int>(sy), y1 = std::min(y0 + 1, h - 1);
    const float fy = sy - y0;
    for (int x = 0; x < out_w; ++x) {
      const float sx = std::clamp((x + 0.5f) * w / out_w - 0.5f, 0.0f, static_cast<float>(w - 1));
      const int x0 = static_cast<int>(sx), x1 = std::min(x0 + 1, w - 1);
      const float fx = sx - x0;
      for (int c = 0; c < 3; ++c) {
        auto at = [&](int yy, int xx) { return static_cast<float>(px[(yy * w + xx) * 3 + c]); };
        const float v = (at(y0, x0) * (1 - fx) + at(y0, x1) * fx) * (1 - fy) + (at(y1, x0) * (1 - fx) + at(y1, x1) * fx) * fy;
        out[(static_cast<size_t>(c) * out_h + y) * out_w + x] = (v / 255.0f - mean[c]) / std_dev[c];
      }
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: classify MODEL.kiln IMAGE [--mean M,M,M] [--std S,S,S] [--labels FILE]\n");
    return 2;
  }
  std::vector<float> mean = {0.485f, 0.456f, 0.406f}, std_dev = {0.229f, 0.224f, 0.225f};
  std::vector<std::string> labels;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--mean") mean = parse_floats(argv[i + 1]);
    else if (a == "--std") std_dev = parse_floats(argv[i + 1]);
    else if (a == "--labels") {
      std::ifstream f(argv[i + 1]);
      for (std::string line; std::getline(f, line);) labels.push_back(line);
    }
  }
  if (mean.size() == 1) mean.assign(3, mean[0]);
  if (std_dev.size() == 1) std_dev.assign(3, std_dev[0]);
  if (mean.size() != 3 || std_dev.size() != 3) {
    std::fprintf(stderr, "classify: --mean and --std take 1 or 3 values\n");
    return 2;
  }

  kiln::api::LoadedModel model = kiln::api::Model::load(argv[1]);
  if (!model) {
    std::fprintf(stderr, "classify: %s\n", model.error().c_str());
    return 1;
  }
  const std::vector<int64_t> in_shape = model.input_shape(0);
  if (in_shape.size() != 4 || in_shape[1] != 3 || in_shape[2] <= 0 || in_shape[3] <= 0) {
    std::fprintf(stderr, "classify: the model's first input must be [N,3,H,W] with a fixed H and W\n");
    return 1;
  }
  int w = 0, h = 0, c = 0;
  unsigned char* px = stbi_load(argv[2], &w, &h, &c, 3);
  if (!px) {
    std::fprintf(stderr, "classify: cannot decode %s: %s\n", argv[2], stbi_failure_reason());
    return 1;
  }
  const int out_h = static_cast<int>(in_shape[2]), out_w = static_cast<int>(in_shape[3]);
  const std::vector<float> x = preprocess(px, w, h, out_w, out_h, mean, std_dev);
  stbi_image_free(px);

  kiln::api::Session session(model, 1);
  if (!session) {
    std::fprintf(stderr, "classify: %s\n", session.error().c_str());
    return 1;
  }
  const std::string input = model.input_names()[0], output = model.output_names()[0];
  if (auto e = session.set_input(input, x.data(), {1, 3, out_h, out_w}); !e) {
    std::fprintf(stderr, "classify: %s\n", e.message().c_str());
    return 1;
  }
  if (auto e = session.run(); !e) {
    std::fprintf(stderr, "classify: %s\n", e.message().c_str());
    return 1;
  }
  const kiln_tensor_view y = session.output(output);
  if (!y.data || y.dtype != KILN_F32 || y.rank < 1) {
    std::fprintf(stderr, "classify: the model has no float output '%s'\n", output.c_str());
    return 1;
  }
  const size_t classes = static_cast<size_t>(y.shape[y.rank - 1]);
  const float* scores = static_cast<const float*>(y.data);
  std::vector<size_t> idx(classes);
  std::iota(idx.begin(), idx.end(), 0);
  const size_t k = std::min<size_t>(5, classes);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::printf("top-%zu for %s:\n", k, argv[2]);
  for (size_t i = 0; i < k; ++i) {
    const std::string name = idx[i] < labels.size() ? labels[idx[i]] : "class " + std::to_string(idx[i]);
    std::printf("  %zu. %-24s %.4f\n", i + 1, name.c_str(), scores[idx[i]]);
  }
  return 0;
}
