// Images (png, jpg, bmp, pgm/ppm via stb_image) to float tensors, preprocessed like torchvision's
//   Resize((H, W)) -> Grayscale() (optional) -> ToTensor() -> Normalize(mean, std)
// with these exact choices:
//   * decode to 8-bit RGB (alpha dropped; 16-bit files reduced to 8 bits by stb_image);
//   * gray: PIL's "L" conversion, L = (19595 R + 38470 G + 7471 B + 32768) >> 16 (exact on gray input);
//   * pixel / 255, then the resize (so it works on floats);
//   * resize: bilinear with half-pixel centres and edge clamping, no antialiasing, i.e.
//     torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False);
//   * (x - mean[c]) / std[c], per channel; a single mean/std value applies to every channel;
//   * layout nchw gives [1, C, H, W], nhwc gives [1, H, W, C].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/calib/data/array.h"

namespace kiln::calib {

enum class Layout : uint8_t { nchw, nhwc };

struct ImagePreprocess {
  int height = 0;  // 0 with width 0: keep each image's size
  int width = 0;
  bool gray = false;       // one channel instead of three
  std::vector<float> mean;  // per channel, or one value for all; empty: 0
  std::vector<float> std;   // per channel, or one value for all; empty: 1
  Layout layout = Layout::nchw;

  int channels() const { return gray ? 1 : 3; }
  // Checks mean/std sizes (1 or channels()), std != 0, finite values, sizes in [0, 65536].
  bool validate(std::string* error) const;
};

// Command-line spellings: "0.485,0.456,0.406"; "224x224" or "224" (square); "nchw" / "nhwc".
bool parse_float_list(const std::string& text, std::vector<float>* out, std::string* error);
bool parse_size(const std::string& text, int* height, int* width, std::string* error);
bool parse_layout(const std::string& text, Layout* out, std::string* error);

// Largest image accepted (width * height), to refuse decompression bombs before allocating.
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

// Is `path`'s extension one we decode (.png .jpg .jpeg .bmp .pgm .ppm .pnm, any case)?
bool is_image_file(const std::string& path);

// Decodes an encoded image in memory and preprocesses it into out ([1,C,H,W] or [1,H,W,C]).
bool decode_image(const void* bytes, size_t size, const ImagePreprocess& pre, FloatTensor* out, std::string* error);
bool load_image(const std::string& path, const ImagePreprocess& pre, FloatTensor* out, std::string* error);

// The preprocessing applied to already-decoded 8-bit pixels (interleaved, hwc, `channels` = 1 or 3);
// the IDX reader uses it for uint8 image files. out has shape [1,C,H,W] or [1,H,W,C].
bool preprocess_pixels(const uint8_t* pixels, int height, int width, int channels, const ImagePreprocess& pre,
                       FloatTensor* out, std::string* error);

}  // namespace kiln::calib
