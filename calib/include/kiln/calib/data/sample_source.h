// Calibration and evaluation data as a stream of samples: the calibrator asks for the next batch of
// up to N samples and memory holds one batch, however many samples the data set has.
//
// A source yields, for each model input (by name), a float tensor [n, ...sample shape]. Sources:
//   * an image folder: image files sorted by name (byte order), or an ImageFolder layout (one
//     subfolder per class, class names sorted, giving label indices); preprocessed per ImagePreprocess;
//   * an IDX file of uint8 images [N,H,W] (-> [n,1,H,W] / [n,H,W,1]) or [N,H,W,C]: the same
//     preprocessing (pixel / 255, mean/std; no resize unless a size is given); other dtypes as they are;
//   * a .npy file whose first axis is the sample axis, or a folder of .npy files, one sample each
//     (shape = sample shape, or [1, ...sample shape]); values used as they are;
//   * several of the above zipped together, one per named model input ("input=a.npy,mask=b.npy").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/calib/data/array.h"
#include "kiln/calib/data/image.h"

namespace kiln::calib {

struct SampleBatch {
  size_t count = 0;                  // samples in this batch (0: the source is exhausted)
  std::vector<FloatTensor> inputs;   // one per SampleSource::input_names(), each [count, ...]
  std::vector<int64_t> labels;       // per sample, when the source knows them (ImageFolder, or set_labels)
  std::vector<std::string> origins;  // per sample: "file" or "file[index]", for error messages
};

class SampleSource {
 public:
  virtual ~SampleSource() = default;
  virtual size_t size() const = 0;                                  // number of samples
  virtual const std::vector<std::string>& input_names() const = 0;  // "" for an unnamed single input
  virtual std::vector<int64_t> sample_shape(size_t input) const = 0;  // without the batch axis
  // Fills `out` with the next min(max_samples, remaining) samples; out->count == 0 at the end.
  virtual bool next(size_t max_samples, SampleBatch* out, std::string* error) = 0;
  // Back to the first sample (methods that need several passes over the data call it).
  virtual bool rewind(std::string* error) = 0;
  // Class names of an ImageFolder layout, in label order; empty otherwise.
  virtual std::vector<std::string> class_names() const { return {}; }
};

enum class DataFormat : uint8_t { automatic, images, idx, npy };
bool parse_data_format(const std::string& text, DataFormat* out, std::string* error);  // "images|idx|npy|auto"

struct SourceOptions {
  DataFormat format = DataFormat::automatic;
  ImagePreprocess preprocess;  // images and uint8 IDX
  size_t limit = 0;            // use at most this many samples (0: all)
  bool allow_non_finite = false;
};

// Opens a single-input source for a file or folder. automatic: a folder with class subfolders is an
// ImageFolder; a folder of images is images; a folder of .npy is npy; a file is .npy by its magic,
// else IDX (gzipped or not). Errors: missing path, empty folder, mixed or unknown files, bad headers.
bool open_source(const std::string& path, const SourceOptions& options, std::unique_ptr<SampleSource>* out,
                 std::string* error);

// Opens "path" or "name=path[,name=path...]" (several named inputs, zipped; all must have the same
// number of samples).
bool open_sources(const std::string& spec, const SourceOptions& options, std::unique_ptr<SampleSource>* out,
                  std::string* error);

// Checks a source's sample shape against a model input shape that includes the batch axis, where
// a negative dimension is dynamic: "input: data gives [1,28,28] per sample, model wants [N,1,32,32]".
bool check_sample_shape(const SampleSource& source, size_t input, const std::vector<int64_t>& model_shape,
                        std::string* error);

// Lists a folder's regular files (not recursive) whose names pass `keep`, sorted by name.
bool list_files(const std::string& folder, bool (*keep)(const std::string& path), std::vector<std::string>* out,
                std::string* error);

}  // namespace kiln::calib
