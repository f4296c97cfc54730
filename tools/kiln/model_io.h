// Model and data plumbing shared by quantize / eval / analyze / bench: loading an ONNX model or a
// .kiln into a runnable Model, the preprocessing recorded in a .kiln's metadata,
// opening a data source that matches a model input, and batch tensors.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli_args.h"
#include "kiln/calib/data/sample_source.h"
#include "kiln/format/kiln_file.h"
#include "kiln/runtime/model.h"

namespace kiln::cli {

struct LoadedModel {
  std::shared_ptr<const Model> model;
  bool is_kiln = false;
  KilnFile file;  // .kiln only: graph, metadata, blobs
  size_t file_bytes = 0;
};

// .kiln (by its identifier) or ONNX (imported and canonicalised). Errors do not
// repeat the path; the caller names it.
bool load_model_file(const std::string& path, LoadedModel* out, std::string* error);
// Imports and canonicalises an ONNX file; `bytes` receives the file for hashing.
bool load_onnx(const std::string& path, std::shared_ptr<const Model>* out, std::string* bytes, std::string* error);

// The preprocessing options every data-reading command shares.
inline const std::vector<OptionSpec> kPreprocessOptions = {
    {"mean", true}, {"std", true}, {"size", true}, {"layout", true}, {"gray", false}};

// Preprocessing: the .kiln's recorded values (if any), overridden by the command line; a missing
// size becomes the model input's fixed H and W.
// One preprocessing option (mean, std, size, layout, gray; other keys are ignored) into `pre`, from
// the command line (`from_cli`: a bare --gray) or from a .kiln's recorded preprocessing.
bool set_preprocess_option(const std::string& key, const std::string& value, bool from_cli,
                           calib::ImagePreprocess* pre, std::string* error);
bool resolve_preprocess(const ParsedArgs& args, const KilnMetadata* recorded, const Model& model,
                        calib::ImagePreprocess* out, std::string* error);
// The metadata form of a preprocessing ("mean", "std", "size", "layout", "gray").
std::map<std::string, std::string> preprocess_metadata(const calib::ImagePreprocess& pre);

// Opens `spec` as a source and checks each of its inputs against the model's inputs.
bool open_model_source(const std::string& spec, const calib::SourceOptions& options, const Model& model,
                       std::unique_ptr<calib::SampleSource>* out, std::string* error);
// The model input fed by the source's input `i` (by name; "" means the model's i-th input).
std::string model_input_for(const calib::SampleSource& source, size_t i, const Model& model);

Tensor to_tensor(const calib::FloatTensor& t);
// One row (sample) of a batch output's class scores: index of the top-k, best first.
std::vector<size_t> top_k(const float* row, size_t cols, size_t k);

std::string json_escape(const std::string& s);
// Fails early when an output file's folder does not exist (before hours of calibration).
bool check_output_path(const std::string& path, std::string* error);
std::string base_name(const std::string& path);

}  // namespace kiln::cli
