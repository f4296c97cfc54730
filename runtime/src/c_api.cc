#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "kiln/c_api_internal.h"
#include "kiln/format/kiln_file.h"
#include "kiln/kernels/isa.h"
#include "kiln/kiln.h"
#include "kiln_version.h"

struct kiln_model {
  std::shared_ptr<const kiln::Model> model;
  std::vector<std::string> inputs, outputs;
};

struct kiln_session {
  std::shared_ptr<const kiln::Model> model;
  std::unique_ptr<kiln::Session> session;
};

namespace {
thread_local std::string g_last_error;

kiln_status ok() {
  g_last_error.clear();
  return KILN_OK;
}

// Runs f, turning an escaping exception (allocation failure) into an error.
template <class F>
kiln_status guarded(F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return kiln::set_last_error(std::string("internal error: ") + e.what());
  } catch (...) {
    return kiln::set_last_error("internal error");
  }
}

// The stopgap float-graph file that .kiln replaced ("KILNGRF1"): named in the error so that users
// know to convert instead of reading "not a kiln file".
constexpr char kRetiredGraphMagic[] = "KILNGRF1";
constexpr char kRetiredGraphMessage[] =
    "this is a retired .kgraph graph file; re-export the model as a .kiln file";

bool is_retired_graph_file(const void* data, size_t size) {
  return size >= 8 && std::memcmp(data, kRetiredGraphMagic, 8) == 0;
}

bool file_is_retired_graph(const char* path) {
  std::FILE* f = std::fopen(path, "rb");
  if (!f) return false;  // load_kiln reports the missing file
  char head[8] = {};
  const size_t n = std::fread(head, 1, sizeof(head), f);
  std::fclose(f);
  return is_retired_graph_file(head, n);
}
}  // namespace

namespace kiln {
kiln_model* wrap_model(std::shared_ptr<const Model> model) {
  auto* m = new kiln_model;
  m->inputs = model->input_names();
  m->outputs = model->output_names();
  m->model = std::move(model);
  return m;
}
kiln_status set_last_error(const std::string& message) {
  g_last_error = message;
  return KILN_ERROR;
}
}  // namespace kiln

namespace {
// A .kiln file holds the graph to run as it is: float graphs are saved canonicalised
// (Model::logical_graph()) and quantized ones must never be rewritten by the float passes, so the
// runtime does not canonicalise again; Model::create sorts, infers shapes, assigns layouts and
// prepares the kernels. `where` (a path or "") is added to errors that do not name it already.
kiln_status create_model(kiln::KilnFile&& file, const std::string& where, kiln_model** out) {
  std::string err;
  kiln::ModelOptions options;
  options.canonicalize = false;
  auto model = kiln::Model::create(std::move(file.graph), &err, options);
  if (!model) return kiln::set_last_error(where.empty() ? err : err + " (" + where + ")");
  *out = kiln::wrap_model(std::move(model));
  return ok();
}
}  // namespace

extern "C" {

const char* kiln_version(void) { return KILN_VERSION_STRING; }

const char* kiln_isa(void) {
  const kiln::kernels::IsaChoice choice = kiln::kernels::choose_isa();
  if (!choice.ok) {
    g_last_error = choice.error;
    return nullptr;
  }
  // isa_name returns views of string literals, so data() is NUL-terminated.
  return kiln::kernels::isa_name(choice.isa).data();
}

const char* kiln_last_error(void) { return g_last_error.c_str(); }

kiln_status kiln_model_load_memory(const void* data, size_t size, kiln_model** out) {
  if (!out || (!data && size)) return kiln::set_last_error("null argument");
  *out = nullptr;
  return guarded([&] {
    if (is_retired_graph_file(data, size)) return kiln::set_last_error(kRetiredGraphMessage);
    kiln::KilnFile file;
    std::string err;
    // The caller may free its buffer after this call: the bytes are copied once into aligned storage.
    if (!kiln::load_kiln_copy(data, size, &file, &err)) return kiln::set_last_error(err);
    return create_model(std::move(file), "", out);
  });
}

kiln_status kiln_model_load_file(const char* path, kiln_model** out) {
  if (!path || !out) return kiln::set_last_error("null argument");
  *out = nullptr;
  return guarded([&] {
    if (file_is_retired_graph(path)) return kiln::set_last_error(std::string(kRetiredGraphMessage) + " (" + path + ")");
    kiln::KilnFile file;
    std::string err;
    // Read-only mmap: every weight stays in the mapping (no copy); errors start with the path.
    if (!kiln::load_kiln(path, &file, &err)) return kiln::set_last_error(err);
    return create_model(std::move(file), path, out);
  });
}

void kiln_model_free(kiln_model* model) { delete model; }

size_t kiln_model_input_count(const kiln_model* m) { return m ? m->inputs.size() : 0; }
size_t kiln_model_output_count(const kiln_model* m) { return m ? m->outputs.size() : 0; }
const char* kiln_model_input_name(const kiln_model* m, size_t i) {
  return m && i < m->inputs.size() ? m->inputs[i].c_str() : nullptr;
}
const char* kiln_model_output_name(const kiln_model* m, size_t i) {
  return m && i < m->outputs.size() ? m->outputs[i].c_str() : nullptr;
}
kiln_status kiln_model_input_shape(const kiln_model* m, size_t i, const int64_t** shape, size_t* rank) {
  if (!m || !shape || !rank) return kiln::set_last_error("null argument");
  if (i >= m->inputs.size()) return kiln::set_last_error("input index out of range");
  const kiln::Graph& g = m->model->graph();
  const kiln::Shape& s = g.values[g.inputs[i]].shape;
  *shape = s.data();
  *rank = s.size();
  return ok();
}

kiln_status kiln_session_create(kiln_model* model, int threads, kiln_session** out) {
  if (!model || !out) return kiln::set_last_error("null argument");
  *out = nullptr;
  return guarded([&] {
    auto* s = new kiln_session;
    s->model = model->model;
    s->session = std::make_unique<kiln::Session>(model->model, threads);
    *out = s;
    return ok();
  });
}

void kiln_session_free(kiln_session* session) { delete session; }

kiln_status kiln_session_set_input(kiln_session* s, const char* name, kiln_dtype dtype, const void* data,
                                   const int64_t* shape, size_t rank) {
  if (!s || !name || (!shape && rank)) return kiln::set_last_error("null argument");
  if (dtype != KILN_F32 && dtype != KILN_U8 && dtype != KILN_S8 && dtype != KILN_S32 && dtype != KILN_S64) {
    return kiln::set_last_error("unknown dtype");
  }
  return guarded([&] {
    kiln::Shape sh(shape, shape + rank);
    for (int64_t d : sh) {
      if (d <= 0 || d > (int64_t{1} << 32)) return kiln::set_last_error("bad shape for input '" + std::string(name) + "'");
    }
    const auto dt = static_cast<kiln::DType>(dtype);
    if (!data && kiln::shape_elements(sh)) return kiln::set_last_error("null data");
    // A view over the caller's memory; set_input copies it.
    const kiln::Tensor view = kiln::Tensor::view(dt, sh, kiln::Layout::plain, const_cast<void*>(data));
    if (std::string e = s->session->set_input(name, view); !e.empty()) return kiln::set_last_error(e);
    return ok();
  });
}

kiln_status kiln_session_run(kiln_session* s) {
  if (!s) return kiln::set_last_error("null argument");
  return guarded([&] {
    if (std::string e = s->session->run(); !e.empty()) return kiln::set_last_error(e);
    return ok();
  });
}

kiln_status kiln_session_get_output(kiln_session* s, const char* name, kiln_tensor_view* out) {
  if (!s || !name || !out) return kiln::set_last_error("null argument");
  const kiln::Tensor* t = s->session->output(name);
  if (!t) return kiln::set_last_error("no output named '" + std::string(name) + "' (or the session has not run)");
  out->dtype = static_cast<kiln_dtype>(t->dtype());
  out->data = t->raw();
  out->shape = t->shape().data();
  out->rank = t->shape().size();
  return ok();
}

size_t kiln_session_peak_memory(const kiln_session* s) { return s ? s->session->arena_bytes() : 0; }

}  // extern "C"
