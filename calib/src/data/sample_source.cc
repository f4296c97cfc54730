#include "kiln/calib/data/sample_source.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "file_io.h"
#include "kiln/calib/data/idx.h"
#include "kiln/calib/data/npy.h"

namespace kiln::calib {
namespace fs = std::filesystem;

namespace {

bool is_npy_file(const std::string& path) {
  return path.size() > 4 && path.compare(path.size() - 4, 4, ".npy") == 0;
}
bool is_hidden(const fs::path& p) { return p.filename().string().rfind('.', 0) == 0; }

size_t limited(size_t n, size_t limit) { return limit ? std::min(n, limit) : n; }

std::vector<int64_t> without_batch(const std::vector<int64_t>& shape) {
  return std::vector<int64_t>(shape.begin() + (shape.empty() ? 0 : 1), shape.end());
}

std::vector<int64_t> with_batch(size_t n, const std::vector<int64_t>& sample) {
  std::vector<int64_t> s{static_cast<int64_t>(n)};
  s.insert(s.end(), sample.begin(), sample.end());
  return s;
}

size_t elements(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

const std::vector<std::string>& unnamed() {
  static const std::vector<std::string> names{""};
  return names;
}

void start_batch(SampleBatch* out, size_t count, const std::vector<int64_t>& sample_shape) {
  out->count = count;
  out->inputs.resize(1);
  out->inputs[0].shape = with_batch(count, sample_shape);
  out->inputs[0].data.resize(count * elements(sample_shape));
  out->labels.clear();
  out->origins.clear();
}

// ---- images: a sorted file list, or an ImageFolder layout ---------------------------------------
class ImageSource final : public SampleSource {
 public:
  ImageSource(std::vector<std::string> files, std::vector<int64_t> labels, std::vector<std::string> classes,
              const SourceOptions& o)
      : files_(std::move(files)), labels_(std::move(labels)), classes_(std::move(classes)), pre_(o.preprocess) {
    files_.resize(limited(files_.size(), o.limit));
    if (!labels_.empty()) labels_.resize(files_.size());
  }

  // Decodes the first image to learn the sample shape (every later image must match it).
  bool init(std::string* error) {
    FloatTensor first;
    if (!load_image(files_[0], pre_, &first, error)) return false;
    shape_ = without_batch(first.shape);
    return true;
  }

  size_t size() const override { return files_.size(); }
  const std::vector<std::string>& input_names() const override { return unnamed(); }
  std::vector<int64_t> sample_shape(size_t) const override { return shape_; }
  std::vector<std::string> class_names() const override { return classes_; }
  bool rewind(std::string*) override {
    next_ = 0;
    return true;
  }

  bool next(size_t max_samples, SampleBatch* out, std::string* error) override {
    const size_t n = std::min(max_samples, files_.size() - next_);
    start_batch(out, n, shape_);
    const size_t per = elements(shape_);
    for (size_t i = 0; i < n; ++i) {
      const std::string& file = files_[next_ + i];
      FloatTensor t;
      if (!load_image(file, pre_, &t, error)) return false;
      if (without_batch(t.shape) != shape_) {
        *error = file + ": image gives " + shape_string(without_batch(t.shape)) + " but the first image gave " +
                 shape_string(shape_) + "; give a size (--size HxW) to resize them all";
        return false;
      }
      std::memcpy(out->inputs[0].data.data() + i * per, t.data.data(), per * sizeof(float));
      out->origins.push_back(file);
      if (!labels_.empty()) out->labels.push_back(labels_[next_ + i]);
    }
    next_ += n;
    return true;
  }

 private:
  std::vector<std::string> files_;
  std::vector<int64_t> labels_;
  std::vector<std::string> classes_;
  ImagePreprocess pre_;
  std::vector<int64_t> shape_;
  size_t next_ = 0;
};

// ---- an IDX file: uint8 images get the image preprocessing, other data is used as it is ---------
class IdxSource final : public SampleSource {
 public:
  bool init(const std::string& path, const SourceOptions& o, std::string* error) {
    path_ = path;
    if (!reader_.open(path, error)) return false;
    const IdxHeader& h = reader_.header();
    count_ = limited(reader_.items(), o.limit);
    images_ = h.dtype == DType::u8 && (h.shape.size() == 3 || (h.shape.size() == 4 && (h.shape[3] == 1 || h.shape[3] == 3)));
    if (images_) {
      pre_ = o.preprocess;
      in_h_ = static_cast<int>(h.shape[1]);
      in_w_ = static_cast<int>(h.shape[2]);
      in_c_ = h.shape.size() == 4 ? static_cast<int>(h.shape[3]) : 1;
      if (in_c_ == 1) pre_.gray = true;  // a one-channel IDX stays one channel
      if (!pre_.validate(error)) {
        *error = path + ": " + *error;
        return false;
      }
      const int oh = pre_.height ? pre_.height : in_h_, ow = pre_.width ? pre_.width : in_w_;
      shape_ = pre_.layout == Layout::nchw ? std::vector<int64_t>{pre_.channels(), oh, ow}
                                           : std::vector<int64_t>{oh, ow, pre_.channels()};
    } else {
      shape_ = without_batch(h.shape);
    }
    if (count_ == 0) {
      *error = path + ": the IDX file holds no samples";
      return false;
    }
    return true;
  }

  size_t size() const override { return count_; }
  const std::vector<std::string>& input_names() const override { return unnamed(); }
  std::vector<int64_t> sample_shape(size_t) const override { return shape_; }
  bool rewind(std::string* error) override { return reader_.rewind(error); }

  bool next(size_t max_samples, SampleBatch* out, std::string* error) override {
    const size_t n = std::min(max_samples, count_ - reader_.position());
    const size_t first = reader_.position();
    start_batch(out, n, shape_);
    if (n == 0) return true;
    const size_t item = reader_.item_elements();
    raw_.resize(n * item);
    if (!reader_.read_next(n, raw_.data(), error)) return false;
    if (!images_) {
      std::memcpy(out->inputs[0].data.data(), raw_.data(), raw_.size() * sizeof(float));
    } else {
      const size_t per = elements(shape_);
      std::vector<uint8_t> pixels(item);
      FloatTensor t;
      for (size_t i = 0; i < n; ++i) {
        for (size_t k = 0; k < item; ++k) pixels[k] = static_cast<uint8_t>(raw_[i * item + k]);
        if (!preprocess_pixels(pixels.data(), in_h_, in_w_, in_c_, pre_, &t, error)) {
          *error = path_ + ": " + *error;
          return false;
        }
        std::memcpy(out->inputs[0].data.data() + i * per, t.data.data(), per * sizeof(float));
      }
    }
    for (size_t i = 0; i < n; ++i) out->origins.push_back(path_ + "[" + std::to_string(first + i) + "]");
    return true;
  }

 private:
  std::string path_;
  IdxReader reader_;
  size_t count_ = 0;
  bool images_ = false;
  ImagePreprocess pre_;
  int in_h_ = 0, in_w_ = 0, in_c_ = 1;
  std::vector<int64_t> shape_;
  std::vector<float> raw_;
};

// ---- one .npy file, first axis = samples ----------------------------------------------------------
class NpyFileSource final : public SampleSource {
 public:
  bool init(const std::string& path, const SourceOptions& o, std::string* error) {
    path_ = path;
    allow_non_finite_ = o.allow_non_finite;
    if (!reader_.open(path, error)) return false;
    if (reader_.header().shape.empty()) {
      *error = path + ": a 0-d array has no sample axis";
      return false;
    }
    count_ = limited(reader_.rows(), o.limit);
    shape_ = without_batch(reader_.header().shape);
    if (count_ == 0) {
      *error = path + ": the array holds no samples (first dimension 0)";
      return false;
    }
    return true;
  }
  size_t size() const override { return count_; }
  const std::vector<std::string>& input_names() const override { return unnamed(); }
  std::vector<int64_t> sample_shape(size_t) const override { return shape_; }
  bool rewind(std::string*) override {
    next_ = 0;
    return true;
  }
  bool next(size_t max_samples, SampleBatch* out, std::string* error) override {
    const size_t n = std::min(max_samples, count_ - next_);
    start_batch(out, n, shape_);
    if (!reader_.read_rows(next_, n, out->inputs[0].data.data(), error, allow_non_finite_)) return false;
    for (size_t i = 0; i < n; ++i) out->origins.push_back(path_ + "[" + std::to_string(next_ + i) + "]");
    next_ += n;
    return true;
  }

 private:
  std::string path_;
  NpyRowReader reader_;
  bool allow_non_finite_ = false;
  size_t count_ = 0, next_ = 0;
  std::vector<int64_t> shape_;
};

// ---- a folder of .npy files, one sample each ------------------------------------------------------
class NpyFolderSource final : public SampleSource {
 public:
  bool init(std::vector<std::string> files, const SourceOptions& o, std::string* error) {
    files_ = std::move(files);
    files_.resize(limited(files_.size(), o.limit));
    allow_non_finite_ = o.allow_non_finite;
    FloatTensor first;
    if (!load(files_[0], &first, error)) return false;
    shape_ = first.shape;
    return true;
  }
  size_t size() const override { return files_.size(); }
  const std::vector<std::string>& input_names() const override { return unnamed(); }
  std::vector<int64_t> sample_shape(size_t) const override { return shape_; }
  bool rewind(std::string*) override {
    next_ = 0;
    return true;
  }
  bool next(size_t max_samples, SampleBatch* out, std::string* error) override {
    const size_t n = std::min(max_samples, files_.size() - next_);
    start_batch(out, n, shape_);
    const size_t per = elements(shape_);
    for (size_t i = 0; i < n; ++i) {
      FloatTensor t;
      if (!load(files_[next_ + i], &t, error)) return false;
      if (t.shape != shape_) {
        *error = files_[next_ + i] + ": sample shape " + shape_string(t.shape) + " differs from the first file's " +
                 shape_string(shape_);
        return false;
      }
      std::memcpy(out->inputs[0].data.data() + i * per, t.data.data(), per * sizeof(float));
      out->origins.push_back(files_[next_ + i]);
    }
    next_ += n;
    return true;
  }

 private:
  // One sample per file: the shape is the sample shape, or [1, ...] with the batch axis kept.
  bool load(const std::string& file, FloatTensor* t, std::string* error) {
    if (!read_npy_float(file, t, error, allow_non_finite_)) return false;
    if (!t->shape.empty() && t->shape[0] == 1 && t->shape.size() > 1) t->shape.erase(t->shape.begin());
    return true;
  }
  std::vector<std::string> files_;
  bool allow_non_finite_ = false;
  size_t next_ = 0;
  std::vector<int64_t> shape_;
};

// ---- several named sources, zipped ----------------------------------------------------------------
class ZipSource final : public SampleSource {
 public:
  ZipSource(std::vector<std::string> names, std::vector<std::unique_ptr<SampleSource>> parts)
      : names_(std::move(names)), parts_(std::move(parts)) {}
  size_t size() const override { return parts_[0]->size(); }
  const std::vector<std::string>& input_names() const override { return names_; }
  std::vector<int64_t> sample_shape(size_t input) const override { return parts_[input]->sample_shape(0); }
  bool rewind(std::string* error) override {
    for (auto& p : parts_) {
      if (!p->rewind(error)) return false;
    }
    return true;
  }
  bool next(size_t max_samples, SampleBatch* out, std::string* error) override {
    SampleBatch part;
    out->inputs.clear();
    out->origins.clear();
    out->labels.clear();
    out->count = 0;
    for (size_t i = 0; i < parts_.size(); ++i) {
      if (!parts_[i]->next(max_samples, &part, error)) return false;
      if (i == 0) {
        out->count = part.count;
        out->origins = part.origins;
        out->labels = part.labels;
      } else if (part.count != out->count) {
        *error = "input '" + names_[i] + "' ran out of samples before input '" + names_[0] + "'";
        return false;
      }
      out->inputs.push_back(std::move(part.inputs[0]));
    }
    return true;
  }

 private:
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<SampleSource>> parts_;
};

bool open_folder(const std::string& path, const SourceOptions& o, std::unique_ptr<SampleSource>* out,
                 std::string* error) {
  std::error_code ec;
  std::vector<std::string> images, npys, subdirs;
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    if (is_hidden(entry.path())) continue;
    std::error_code ec2;
    if (entry.is_directory(ec2)) {
      subdirs.push_back(entry.path().string());
    } else if (is_image_file(entry.path().string())) {
      images.push_back(entry.path().string());
    } else if (is_npy_file(entry.path().string())) {
      npys.push_back(entry.path().string());
    }
  }
  if (ec) {
    *error = path + ": cannot list the folder: " + ec.message();
    return false;
  }
  std::sort(images.begin(), images.end());
  std::sort(npys.begin(), npys.end());
  std::sort(subdirs.begin(), subdirs.end());
  if (o.format == DataFormat::idx) {
    *error = path + ": --calib-format idx needs an IDX file, not a folder";
    return false;
  }
  if (!images.empty() && !npys.empty()) {
    *error = path + ": the folder mixes images and .npy files; keep one kind";
    return false;
  }
  if (!npys.empty() && o.format != DataFormat::images) {
    auto src = std::make_unique<NpyFolderSource>();
    if (!src->init(std::move(npys), o, error)) return false;
    *out = std::move(src);
    return true;
  }
  if (!images.empty() && o.format != DataFormat::npy) {
    auto src = std::make_unique<ImageSource>(std::move(images), std::vector<int64_t>{}, std::vector<std::string>{}, o);
    if (!src->init(error)) return false;
    *out = std::move(src);
    return true;
  }
  if (!subdirs.empty() && o.format != DataFormat::npy) {
    // ImageFolder: one subfolder per class, class index = position of the sorted folder name.
    std::vector<std::string> files, classes;
    std::vector<int64_t> labels;
    for (size_t c = 0; c < subdirs.size(); ++c) {
      std::vector<std::string> class_files;
      if (!list_files(subdirs[c], is_image_file, &class_files, error)) return false;
      classes.push_back(fs::path(subdirs[c]).filename().string());
      for (auto& f : class_files) {
        files.push_back(std::move(f));
        labels.push_back(static_cast<int64_t>(c));
      }
    }
    if (files.empty()) {
      *error = path + ": no images in its " + std::to_string(subdirs.size()) + " class folder(s)";
      return false;
    }
    auto src = std::make_unique<ImageSource>(std::move(files), std::move(labels), std::move(classes), o);
    if (!src->init(error)) return false;
    *out = std::move(src);
    return true;
  }
  *error = path + ": no " +
           std::string(o.format == DataFormat::images ? "images" : o.format == DataFormat::npy ? ".npy files"
                                                                                                : "images or .npy files") +
           " in the folder (images: .png .jpg .jpeg .bmp .pgm .ppm)";
  return false;
}

}  // namespace

bool parse_data_format(const std::string& text, DataFormat* out, std::string* error) {
  if (text == "auto" || text.empty()) *out = DataFormat::automatic;
  else if (text == "images") *out = DataFormat::images;
  else if (text == "idx") *out = DataFormat::idx;
  else if (text == "npy") *out = DataFormat::npy;
  else {
    *error = "data format '" + text + "' is not images, idx, npy or auto";
    return false;
  }
  return true;
}

bool list_files(const std::string& folder, bool (*keep)(const std::string& path), std::vector<std::string>* out,
                std::string* error) {
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    std::error_code ec2;
    if (is_hidden(entry.path()) || !entry.is_regular_file(ec2)) continue;
    if (keep == nullptr || keep(entry.path().string())) files.push_back(entry.path().string());
  }
  if (ec) {
    *error = folder + ": cannot list the folder: " + ec.message();
    return false;
  }
  std::sort(files.begin(), files.end());
  *out = std::move(files);
  return true;
}

bool open_source(const std::string& path, const SourceOptions& o, std::unique_ptr<SampleSource>* out,
                 std::string* error) {
  if (!o.preprocess.validate(error)) return false;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    *error = path + ": no such file or folder";
    return false;
  }
  if (fs::is_directory(st)) return open_folder(path, o, out, error);
  if (!fs::is_regular_file(st)) {
    *error = path + ": not a file or folder";
    return false;
  }
  // A file: decide by its first bytes (and the extension for images).
  uint8_t magic[6] = {0};
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    const size_t got = std::fread(magic, 1, sizeof(magic), f);
    std::fclose(f);
    if (got == 0) {
      *error = path + ": empty file";
      return false;
    }
  } else {
    *error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  const bool npy_magic = std::memcmp(magic, "\x93NUMPY", 6) == 0;
  if (o.format == DataFormat::npy || (o.format == DataFormat::automatic && npy_magic)) {
    auto src = std::make_unique<NpyFileSource>();
    if (!src->init(path, o, error)) return false;
    *out = std::move(src);
    return true;
  }
  if (o.format == DataFormat::images || (o.format == DataFormat::automatic && is_image_file(path))) {
    auto src = std::make_unique<ImageSource>(std::vector<std::string>{path}, std::vector<int64_t>{},
                                             std::vector<std::string>{}, o);
    if (!src->init(error)) return false;
    *out = std::move(src);
    return true;
  }
  // IDX (or gzipped IDX); its reader reports a wrong magic precisely.
  auto src = std::make_unique<IdxSource>();
  if (!src->init(path, o, error)) return false;
  *out = std::move(src);
  return true;
}

bool open_sources(const std::string& spec, const SourceOptions& o, std::unique_ptr<SampleSource>* out,
                  std::string* error) {
  // "name=path,name=path": only when every comma-separated item has a '=' before any '/'.
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t comma = std::min(spec.find(',', start), spec.size());
    items.push_back(spec.substr(start, comma - start));
    start = comma + 1;
  }
  const bool named = std::all_of(items.begin(), items.end(), [](const std::string& s) {
    const size_t eq = s.find('=');
    return eq != std::string::npos && eq > 0 && s.find('/') > eq;
  });
  if (!named) return open_source(spec, o, out, error);
  std::vector<std::string> names;
  std::vector<std::unique_ptr<SampleSource>> parts;
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    names.push_back(item.substr(0, eq));
    if (std::count(names.begin(), names.end(), names.back()) > 1) {
      *error = "input '" + names.back() + "' is given twice";
      return false;
    }
    std::unique_ptr<SampleSource> part;
    if (!open_source(item.substr(eq + 1), o, &part, error)) return false;
    if (!parts.empty() && part->size() != parts[0]->size()) {
      *error = "input '" + names.back() + "' has " + std::to_string(part->size()) + " samples, input '" + names[0] +
               "' has " + std::to_string(parts[0]->size());
      return false;
    }
    parts.push_back(std::move(part));
  }
  *out = std::make_unique<ZipSource>(std::move(names), std::move(parts));
  return true;
}

bool check_sample_shape(const SampleSource& source, size_t input, const std::vector<int64_t>& model_shape,
                        std::string* error) {
  const std::vector<int64_t> sample = source.sample_shape(input);
  const std::string& name = source.input_names()[input];
  bool ok = model_shape.size() == sample.size() + 1;
  for (size_t d = 0; ok && d < sample.size(); ++d) {
    ok = model_shape[d + 1] < 0 || model_shape[d + 1] == sample[d];
  }
  if (!ok) {
    std::string want = "[";
    for (size_t d = 0; d < model_shape.size(); ++d) {
      if (d) want += ',';
      want += model_shape[d] < 0 ? std::string("?") : std::to_string(model_shape[d]);
    }
    const std::string who = name.empty() ? std::string("data") : "input '" + name + "'";
    *error = who + ": samples are " + shape_string(sample) + ", the model wants " + want + "]";
    return false;
  }
  return true;
}

}  // namespace kiln::calib
