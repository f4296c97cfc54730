#include "model_io.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <sstream>

#include "kiln/onnx/importer.h"

namespace kiln::cli {
namespace {

bool read_file(const std::string& path, std::string* out, std::string* error) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    *error = "is a folder, not a model file";
    return false;
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *error = "cannot open the model file";
    return false;
  }
  out->assign((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) {
    *error = "cannot read the model file";
    return false;
  }
  return true;
}

std::string join_floats(const std::vector<float>& v) {
  std::ostringstream o;
  for (size_t i = 0; i < v.size(); ++i) o << (i ? "," : "") << v[i];
  return o.str();
}

}  // namespace

bool load_onnx(const std::string& path, std::shared_ptr<const Model>* out, std::string* bytes, std::string* error) {
  if (!read_file(path, bytes, error)) return false;
  Graph g;
  if (!onnx::import_model(bytes->data(), bytes->size(), &g, error)) return false;
  *out = Model::create(std::move(g), error);
  return *out != nullptr;
}

bool load_model_file(const std::string& path, LoadedModel* out, std::string* error) {
  std::string bytes;
  if (!read_file(path, &bytes, error)) return false;
  out->file_bytes = bytes.size();
  if (is_kiln_file(bytes.data(), bytes.size())) {
    bytes.clear();
    if (!load_kiln(path, &out->file, error)) {
      if (error->rfind(path + ": ", 0) == 0) error->erase(0, path.size() + 2);
      return false;
    }
    out->is_kiln = true;
    // A frozen Q graph runs as written: canonicalising it again could only change it.
    ModelOptions options;
    options.canonicalize = false;
    out->model = Model::create(out->file.graph, error, options);
    return out->model != nullptr;
  }
  Graph g;
  if (!onnx::import_model(bytes.data(), bytes.size(), &g, error)) return false;
  out->model = Model::create(std::move(g), error);
  return out->model != nullptr;
}

bool set_preprocess_option(const std::string& key, const std::string& value, bool from_cli,
                           calib::ImagePreprocess* pre, std::string* error) {
  if (key == "mean" || key == "std") {
    std::vector<float>* dst = key == "mean" ? &pre->mean : &pre->std;
    dst->clear();
    return calib::parse_float_list(value, dst, error);
  }
  if (key == "size") return calib::parse_size(value, &pre->height, &pre->width, error);
  if (key == "layout") return calib::parse_layout(value, &pre->layout, error);
  if (key == "gray") pre->gray = from_cli || value == "1" || value == "true";
  return true;
}

bool resolve_preprocess(const ParsedArgs& args, const KilnMetadata* recorded, const Model& model,
                        calib::ImagePreprocess* out, std::string* error) {
  calib::ImagePreprocess pre;
  std::string err;
  auto take = [&](const std::string& key, const std::string& value, bool from_cli) {
    return set_preprocess_option(key, value, from_cli, &pre, &err);
  };
  if (recorded) {
    for (const auto& [key, value] : recorded->preprocessing) {
      if (value.empty()) continue;
      if (!take(key, value, false)) {
        *error = "the model's recorded preprocessing '" + key + "' is invalid: " + err;
        return false;
      }
    }
  }
  for (const OptionSpec& s : kPreprocessOptions) {
    if (!args.has(s.name)) continue;
    if (!take(s.name, args.get(s.name), true)) {
      *error = std::string("--") + s.name + ": " + err;
      return false;
    }
  }
  if (pre.height == 0 && pre.width == 0 && !model.logical_graph().inputs.empty()) {
    const Value& in = model.logical_graph().values[model.logical_graph().inputs[0]];
    if (in.shape.size() == 4) {
      const bool nhwc = pre.layout == calib::Layout::nhwc;
      const int64_t h = in.shape[nhwc ? 1 : 2], w = in.shape[nhwc ? 2 : 3];
      if (h > 0 && w > 0) {
        pre.height = static_cast<int>(h);
        pre.width = static_cast<int>(w);
      }
    }
  }
  if (!pre.validate(error)) return false;
  *out = pre;
  return true;
}

std::map<std::string, std::string> preprocess_metadata(const calib::ImagePreprocess& pre) {
  // Built with emplace: gcc 12 reports a false -Wrestrict on map[key] = "literal" here.
  std::map<std::string, std::string> m;
  m.emplace("mean", join_floats(pre.mean));
  m.emplace("std", join_floats(pre.std));
  if (pre.height > 0) {
    char size[48];
    std::snprintf(size, sizeof size, "%dx%d", pre.height, pre.width);
    m.emplace("size", std::string(size));
  }
  m.emplace("layout", std::string(pre.layout == calib::Layout::nhwc ? "nhwc" : "nchw"));
  m.emplace("gray", std::string(pre.gray ? "1" : "0"));
  m.emplace("scale", std::string("pixel / 255"));
  return m;
}

std::string model_input_for(const calib::SampleSource& source, size_t i, const Model& model) {
  const std::string& name = source.input_names()[i];
  if (!name.empty()) return name;
  const std::vector<std::string> names = model.input_names();
  return i < names.size() ? names[i] : std::string();
}

bool open_model_source(const std::string& spec, const calib::SourceOptions& options, const Model& model,
                       std::unique_ptr<calib::SampleSource>* out, std::string* error) {
  if (!calib::open_sources(spec, options, out, error)) return false;
  const calib::SampleSource& source = **out;
  if (source.size() == 0) {
    *error = "the data holds no samples";
    return false;
  }
  const Graph& g = model.logical_graph();
  const std::vector<std::string> names = model.input_names();
  if (source.input_names().size() != names.size()) {
    *error = "the data gives " + std::to_string(source.input_names().size()) + " input(s), the model has " +
             std::to_string(names.size());
    return false;
  }
  for (size_t i = 0; i < source.input_names().size(); ++i) {
    const std::string name = model_input_for(source, i, model);
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
      *error = "the model has no input named '" + name + "'";
      return false;
    }
    const Value& v = g.values[g.inputs[it - names.begin()]];
    if (!calib::check_sample_shape(source, i, std::vector<int64_t>(v.shape.begin(), v.shape.end()), error)) {
      return false;
    }
  }
  return true;
}

Tensor to_tensor(const calib::FloatTensor& t) {
  Tensor x(DType::f32, Shape(t.shape.begin(), t.shape.end()));
  std::copy(t.data.begin(), t.data.end(), x.mutable_data<float>());
  return x;
}

std::vector<size_t> top_k(const float* row, size_t cols, size_t k) {
  std::vector<size_t> idx(cols);
  std::iota(idx.begin(), idx.end(), 0);
  k = std::min(k, cols);
  // Ties go to the lower class index, like argmax.
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
                    [&](size_t a, size_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
  idx.resize(k);
  return idx;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o;
}

bool check_output_path(const std::string& path, std::string* error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(path);
  if (path.empty() || p.filename().empty()) {
    *error = "the output path names no file";
    return false;
  }
  const fs::path parent = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  if (!fs::is_directory(parent, ec)) {
    *error = "the output folder does not exist";
    return false;
  }
  if (fs::is_directory(p, ec)) {
    *error = "the output path is a folder";
    return false;
  }
  return true;
}

std::string base_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

}  // namespace kiln::cli
