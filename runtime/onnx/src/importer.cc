#include "kiln/onnx/importer.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <set>

#include <onnx/onnx_pb.h>

#include "kiln/runtime/op_registry.h"

namespace kiln::onnx {
namespace {

using ::onnx::AttributeProto;
using ::onnx::TensorProto;

bool onnx_to_dtype(int t, DType* out) {
  switch (t) {
    case TensorProto::FLOAT: case TensorProto::DOUBLE: *out = DType::f32; return true;
    case TensorProto::UINT8: case TensorProto::BOOL: *out = DType::u8; return true;
    case TensorProto::INT8: *out = DType::s8; return true;
    case TensorProto::INT32: *out = DType::s32; return true;
    case TensorProto::INT64: *out = DType::s64; return true;
    default: return false;
  }
}

// A TensorProto's data as a kiln Tensor (doubles become floats, bools bytes).
bool convert_tensor(const TensorProto& t, Tensor* out, std::string* error) {
  DType dt;
  if (!onnx_to_dtype(t.data_type(), &dt)) {
    *error = "tensor '" + t.name() + "' has unsupported element type " + std::to_string(t.data_type());
    return false;
  }
  if (t.data_location() == TensorProto::EXTERNAL) {
    *error = "tensor '" + t.name() + "' uses external data, which is not supported";
    return false;
  }
  Shape shape;
  size_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0 || (d > 0 && n > (size_t{1} << 40) / static_cast<size_t>(d))) {
      *error = "tensor '" + t.name() + "' has a bad shape";
      return false;
    }
    shape.push_back(d);
    n *= static_cast<size_t>(d);
  }
  Tensor r(dt, shape);
  char* dst = static_cast<char*>(r.mutable_raw());
  const size_t onnx_elem = t.data_type() == TensorProto::DOUBLE || t.data_type() == TensorProto::INT64 ? 8
                           : t.data_type() == TensorProto::FLOAT || t.data_type() == TensorProto::INT32 ? 4 : 1;
  auto bad = [&](const char* what) {
    *error = "tensor '" + t.name() + "': " + what;
    return false;
  };
  if (t.has_raw_data()) {
    const std::string& raw = t.raw_data();
    if (raw.size() != n * onnx_elem) return bad("raw_data size does not match its shape");
    if (t.data_type() == TensorProto::DOUBLE) {
      for (size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, raw.data() + 8 * i, 8);
        r.mutable_data<float>()[i] = static_cast<float>(d);
      }
    } else if (n) {
      std::memcpy(dst, raw.data(), raw.size());
    }
  } else {
    switch (t.data_type()) {
      case TensorProto::FLOAT:
        if (static_cast<size_t>(t.float_data_size()) != n) return bad("float_data size does not match its shape");
        for (size_t i = 0; i < n; ++i) r.mutable_data<float>()[i] = t.float_data(static_cast<int>(i));
        break;
      case TensorProto::DOUBLE:
        if (static_cast<size_t>(t.double_data_size()) != n) return bad("double_data size does not match its shape");
        for (size_t i = 0; i < n; ++i) r.mutable_data<float>()[i] = static_cast<float>(t.double_data(static_cast<int>(i)));
        break;
      case TensorProto::INT64:
        if (static_cast<size_t>(t.int64_data_size()) != n) return bad("int64_data size does not match its shape");
        for (size_t i = 0; i < n; ++i) r.mutable_data<int64_t>()[i] = t.int64_data(static_cast<int>(i));
        break;
      default:  // int32, uint8, int8, bool live in int32_data
        if (static_cast<size_t>(t.int32_data_size()) != n) return bad("int32_data size does not match its shape");
        for (size_t i = 0; i < n; ++i) {
          const int32_t v = t.int32_data(static_cast<int>(i));
          if (dt == DType::s32) r.mutable_data<int32_t>()[i] = v;
          else dst[i] = static_cast<char>(v);
        }
    }
  }
  *out = std::move(r);
  return true;
}

struct Importer {
  Graph g;
  int64_t opset = 0;
  std::map<std::string, int> ids;  // ONNX name -> value id
  std::string error;

  int value_named(const std::string& name) {
    auto it = ids.find(name);
    if (it != ids.end()) return it->second;
    Value v;
    v.name = name;
    const int id = g.add_value(std::move(v));
    ids[name] = id;
    return id;
  }

  bool fail(const ::onnx::NodeProto& n, const std::string& name, const std::string& what) {
    error = what + " (" + n.op_type() + " '" + name + "')";
    return false;
  }

  bool convert_attr(const ::onnx::NodeProto& n, const std::string& name, const AttributeProto& a, Attr* out) {
    switch (a.type()) {
      case AttributeProto::INT: *out = Attr::of_int(a.i()); return true;
      case AttributeProto::FLOAT: *out = Attr::of_float(a.f()); return true;
      case AttributeProto::STRING: *out = Attr::of_string(a.s()); return true;
      case AttributeProto::INTS: *out = Attr::of_ints({a.ints().begin(), a.ints().end()}); return true;
      case AttributeProto::FLOATS: *out = Attr::of_floats({a.floats().begin(), a.floats().end()}); return true;
      default: return fail(n, name, "attribute '" + a.name() + "' has an unsupported type");
    }
  }

  bool constant_node(const ::onnx::NodeProto& n, const std::string& name) {
    if (n.output_size() != 1 || n.attribute_size() != 1) return fail(n, name, "Constant needs one output and one attribute");
    const AttributeProto& a = n.attribute(0);
    Tensor t;
    if (a.name() == "value") {
      if (!convert_tensor(a.t(), &t, &error)) return fail(n, name, error);
    } else if (a.name() == "value_float") {
      t = Tensor(DType::f32, {});
      t.mutable_data<float>()[0] = a.f();
    } else if (a.name() == "value_floats") {
      t = Tensor(DType::f32, {a.floats_size()});
      for (int i = 0; i < a.floats_size(); ++i) t.mutable_data<float>()[i] = a.floats(i);
    } else if (a.name() == "value_int") {
      t = Tensor(DType::s64, {});
      t.mutable_data<int64_t>()[0] = a.i();
    } else if (a.name() == "value_ints") {
      t = Tensor(DType::s64, {a.ints_size()});
      for (int i = 0; i < a.ints_size(); ++i) t.mutable_data<int64_t>()[i] = a.ints(i);
    } else {
      return fail(n, name, "unsupported attribute '" + a.name() + "'");
    }
    if (ids.count(n.output(0))) return fail(n, name, "value '" + n.output(0) + "' is produced twice");
    ids[n.output(0)] = g.add_constant(n.output(0), std::move(t));
    return true;
  }

  bool node(const ::onnx::NodeProto& n, int index) {
    const std::string name = !n.name().empty() ? n.name() : n.output_size() ? n.output(0) : n.op_type() + std::to_string(index);
    if (!n.domain().empty() && n.domain() != "ai.onnx") return fail(n, name, "unsupported op domain '" + n.domain() + "'");
    if (n.op_type() == "Constant") return constant_node(n, name);
    Node k;
    k.name = name;
    k.op = n.op_type();
    for (const AttributeProto& a : n.attribute()) {
      Attr v;
      if (!convert_attr(n, name, a, &v)) return false;
      k.attrs[a.name()] = std::move(v);
    }
    // Version-specific forms, mapped onto one meaning per op.
    if (k.op == "Upsample" || (k.op == "Resize" && opset < 11)) {
      std::string mode = k.get_string("mode", "nearest");
      if (mode == "bilinear") mode = "linear";
      k.attrs.clear();
      k.attrs["mode"] = Attr::of_string(mode);
      k.attrs["coordinate_transformation_mode"] = Attr::of_string("asymmetric");
      k.attrs["nearest_mode"] = Attr::of_string("floor");
      k.attrs["scales_at_1"] = Attr::of_int(1);
      if (n.op_type() == "Upsample" && n.input_size() < 2) {
        for (const AttributeProto& a : n.attribute()) {
          if (a.name() != "scales") continue;
          Tensor s(DType::f32, {a.floats_size()});
          for (int i = 0; i < a.floats_size(); ++i) s.mutable_data<float>()[i] = a.floats(i);
          k.inputs.push_back(value_named(n.input(0)));
          k.inputs.push_back(g.add_constant(g.unique_name(name + "_scales"), std::move(s)));
        }
      }
      k.op = "Resize";
    }
    if (k.op == "Softmax" && opset < 13) {
      k.attrs["axis"] = Attr::of_int(k.get_int("axis", 1));
      k.attrs["coerce_2d"] = Attr::of_int(1);
    }
    if (k.op == "Cast") {
      DType dt;
      if (!onnx_to_dtype(static_cast<int>(k.get_int("to", 0)), &dt) || k.get_int("to", 0) == TensorProto::BOOL) {
        return fail(n, name, "unsupported target type " + std::to_string(k.get_int("to", 0)));
      }
      k.attrs["to"] = Attr::of_int(static_cast<int>(dt));
    }
    if (k.op == "BatchNormalization") k.attrs.erase("spatial");
    const OpDef* op = find_op(k.op);
    if (!op || k.op.rfind("kiln.", 0) == 0) return fail(n, name, "unsupported op '" + n.op_type() + "'");
    for (const auto& [key, a] : k.attrs) {
      if (!op_accepts_attribute(*op, key)) return fail(n, name, "unsupported attribute '" + key + "'");
    }
    if (k.inputs.empty()) {
      for (const std::string& in : n.input()) {
        if (in.empty()) {
          k.inputs.push_back(-1);
          continue;
        }
        if (!ids.count(in)) return fail(n, name, "reads '" + in + "', which nothing produces before it");
        k.inputs.push_back(ids[in]);
      }
    }
    while (!k.inputs.empty() && k.inputs.back() < 0) k.inputs.pop_back();
    for (const std::string& out : n.output()) {
      if (out.empty()) {
        if (&out == &n.output(n.output_size() - 1) && n.output_size() > 1) continue;  // omitted trailing output
        return fail(n, name, "unnamed output");
      }
      if (ids.count(out)) return fail(n, name, "value '" + out + "' is produced twice");
      k.outputs.push_back(value_named(out));
    }
    // Optional outputs that nobody reads (Dropout's mask, MaxPool's indices) are dropped later by
    // the ops' own checks when they are used; trailing unused ones are trimmed here.
    g.nodes.push_back(std::move(k));
    return true;
  }

  bool run(const ::onnx::ModelProto& m) {
    for (const auto& op : m.opset_import()) {
      if (op.domain().empty() || op.domain() == "ai.onnx") opset = op.version();
    }
    if (opset == 0) opset = 1;
    if (opset < kMinOpset || opset > kMaxOpset) {
      error = "opset " + std::to_string(opset) + " is not supported (kiln imports opsets " + std::to_string(kMinOpset) +
              " to " + std::to_string(kMaxOpset) + ")";
      return false;
    }
    if (!m.has_graph()) {
      error = "ONNX model has no graph";
      return false;
    }
    const ::onnx::GraphProto& gp = m.graph();
    for (const TensorProto& t : gp.initializer()) {
      Tensor v;
      if (!convert_tensor(t, &v, &error)) return false;
      if (ids.count(t.name())) {
        error = "initializer '" + t.name() + "' appears twice";
        return false;
      }
      ids[t.name()] = g.add_constant(t.name(), std::move(v));
    }
    for (const auto& in : gp.input()) {
      if (ids.count(in.name())) continue;  // an initializer listed as an input
      Value v;
      v.name = in.name();
      const auto& tt = in.type().tensor_type();
      if (!in.type().has_tensor_type() || !onnx_to_dtype(tt.elem_type(), &v.dtype)) {
        error = "input '" + in.name() + "' is not a tensor of a supported type";
        return false;
      }
      if (tt.has_shape()) {
        for (const auto& d : tt.shape().dim()) v.shape.push_back(d.has_dim_value() ? d.dim_value() : kSymbolicDim);
        v.shape_known = true;
      }
      const int id = g.add_value(std::move(v));
      ids[in.name()] = id;
      g.inputs.push_back(id);
    }
    for (int i = 0; i < gp.node_size(); ++i) {
      if (!node(gp.node(i), i)) return false;
    }
    for (const auto& out : gp.output()) {
      auto it = ids.find(out.name());
      if (it == ids.end()) {
        error = "graph output '" + out.name() + "' is never produced";
        return false;
      }
      g.outputs.push_back(it->second);
    }
    if (g.outputs.empty()) {
      error = "the graph has no outputs";
      return false;
    }
    return true;
  }
};

}  // namespace

bool import_model(const void* bytes, size_t size, Graph* out, std::string* error) {
  if (size > static_cast<size_t>(std::numeric_limits<int>::max())) {
    *error = "ONNX file larger than 2 GiB (external data is not supported)";
    return false;
  }
  ::onnx::ModelProto model;
  if (!model.ParseFromArray(bytes, static_cast<int>(size))) {
    *error = "not an ONNX model (protobuf parse failed)";
    return false;
  }
  Importer im;
  if (!im.run(model)) {
    *error = im.error;
    return false;
  }
  *out = std::move(im.g);
  return true;
}

bool import_model_file(const std::string& path, Graph* out, std::string* error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *error = "cannot open " + path;
    return false;
  }
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) {
    *error = "cannot read " + path;
    return false;
  }
  return import_model(bytes.data(), bytes.size(), out, error);
}

}  // namespace kiln::onnx
