// kiln: a thin C++ layer over the C API (kiln.h), in namespace kiln::api (kiln:: itself holds the
// runtime's internal classes). Errors come back as kiln::api::Error (a status plus
// the message); nothing here throws. Move-only handles free themselves.
//
//   auto model = kiln::api::Model::load("model.kiln");   // mmapped, weights used in place
//   if (!model) { std::cerr << model.error() << "\n"; return 1; }
//   kiln::api::Session session(model, /*threads=*/1);
//   session.set_input("input", data.data(), {1, 3, 224, 224});
//   if (auto e = session.run(); !e) ...
//   kiln_tensor_view y = session.output("output");
#ifndef KILN_KILN_HPP
#define KILN_KILN_HPP

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::api {

// Success, or a failure with the message from kiln_last_error().
class Error {
 public:
  Error() = default;
  static Error from_status(kiln_status s) { return s == KILN_OK ? Error() : Error(kiln_last_error()); }
  explicit operator bool() const { return ok_; }  // true on success
  bool ok() const { return ok_; }
  const std::string& message() const { return message_; }

 private:
  explicit Error(std::string m) : ok_(false), message_(std::move(m)) {}
  bool ok_ = true;
  std::string message_;
};

// A loaded model, or the error that stopped loading it.
class LoadedModel {
 public:
  LoadedModel() = default;
  LoadedModel(kiln_model* m, Error e) : model_(m), error_(std::move(e)) {}
  LoadedModel(LoadedModel&& o) noexcept : model_(std::exchange(o.model_, nullptr)), error_(std::move(o.error_)) {}
  LoadedModel& operator=(LoadedModel&& o) noexcept {
    std::swap(model_, o.model_);
    error_ = std::move(o.error_);
    return *this;
  }
  LoadedModel(const LoadedModel&) = delete;
  LoadedModel& operator=(const LoadedModel&) = delete;
  ~LoadedModel() { kiln_model_free(model_); }

  explicit operator bool() const { return model_ != nullptr; }
  const std::string& error() const { return error_.message(); }
  kiln_model* get() const { return model_; }
  std::vector<std::string> input_names() const {
    std::vector<std::string> v;
    for (size_t i = 0; i < kiln_model_input_count(model_); ++i) v.emplace_back(kiln_model_input_name(model_, i));
    return v;
  }
  // The i-th input's declared shape (-1: varies, e.g. the batch).
  std::vector<int64_t> input_shape(size_t i) const {
    const int64_t* s = nullptr;
    size_t r = 0;
    if (kiln_model_input_shape(model_, i, &s, &r) != KILN_OK) return {};
    return std::vector<int64_t>(s, s + r);
  }
  std::vector<std::string> output_names() const {
    std::vector<std::string> v;
    for (size_t i = 0; i < kiln_model_output_count(model_); ++i) v.emplace_back(kiln_model_output_name(model_, i));
    return v;
  }

 private:
  kiln_model* model_ = nullptr;
  Error error_;
};

// Loads a .kiln file (mapped read-only, no copy of the weights) or .kiln bytes (copied once).
struct Model {
  static LoadedModel load(const std::string& path) {
    kiln_model* m = nullptr;
    const kiln_status s = kiln_model_load_file(path.c_str(), &m);
    return LoadedModel(m, Error::from_status(s));
  }
  static LoadedModel load(const void* data, size_t size) {
    kiln_model* m = nullptr;
    const kiln_status s = kiln_model_load_memory(data, size, &m);
    return LoadedModel(m, Error::from_status(s));
  }
};

class Session {
 public:
  explicit Session(const LoadedModel& model, int threads = 1) {
    error_ = Error::from_status(kiln_session_create(model.get(), threads, &session_));
  }
  Session(Session&& o) noexcept : session_(std::exchange(o.session_, nullptr)), error_(std::move(o.error_)) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() { kiln_session_free(session_); }

  explicit operator bool() const { return session_ != nullptr; }
  const std::string& error() const { return error_.message(); }

  Error set_input(const std::string& name, const float* data, std::initializer_list<int64_t> shape) {
    return set_input(name, KILN_F32, data, std::vector<int64_t>(shape));
  }
  Error set_input(const std::string& name, kiln_dtype dtype, const void* data, const std::vector<int64_t>& shape) {
    return Error::from_status(kiln_session_set_input(session_, name.c_str(), dtype, data, shape.data(), shape.size()));
  }
  Error run() { return Error::from_status(kiln_session_run(session_)); }
  // The named output of the last run (data == nullptr when there is none).
  kiln_tensor_view output(const std::string& name) const {
    kiln_tensor_view v{KILN_F32, nullptr, nullptr, 0};
    if (kiln_session_get_output(session_, name.c_str(), &v) != KILN_OK) v.data = nullptr;
    return v;
  }
  size_t peak_memory() const { return kiln_session_peak_memory(session_); }

 private:
  kiln_session* session_ = nullptr;
  Error error_;
};

}  // namespace kiln::api

#endif  // KILN_KILN_HPP
