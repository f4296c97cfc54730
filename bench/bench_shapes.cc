// A small JSON reader, enough for shapes.json: objects, arrays, strings, numbers, true/false/null.
#include "bench_shapes.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#ifndef KILN_SHAPES_JSON_DEFAULT
#define KILN_SHAPES_JSON_DEFAULT "../shared/bench/shapes.json"
#endif

namespace kiln::bench {
namespace {

struct Value {
  enum Kind { null, number, string, array, object, boolean } kind = null;
  double num = 0;
  std::string str;
  std::vector<Value> items;
  std::map<std::string, Value> fields;
};

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}
  bool parse(Value* out, std::string* error) {
    if (!value(out, 0) || (skip(), pos_ != s_.size())) {
      *error = "shapes.json: invalid JSON near byte " + std::to_string(pos_);
      return false;
    }
    return true;
  }

 private:
  void skip() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) ++pos_;
  }
  bool literal(const char* word) {
    const std::string w(word);
    if (s_.compare(pos_, w.size(), w) != 0) return false;
    pos_ += w.size();
    return true;
  }
  bool string(std::string* out) {
    if (pos_ >= s_.size() || s_[pos_] != '"') return false;
    ++pos_;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;  // escapes: keep the escaped character
      out->push_back(s_[pos_++]);
    }
    if (pos_ >= s_.size()) return false;
    ++pos_;
    return true;
  }
  bool value(Value* v, int depth) {
    if (depth > 32) return false;
    skip();
    if (pos_ >= s_.size()) return false;
    const char c = s_[pos_];
    if (c == '{') {
      v->kind = Value::object;
      ++pos_;
      skip();
      if (pos_ < s_.size() && s_[pos_] == '}') return ++pos_, true;
      for (;;) {
        skip();
        std::string key;
        if (!string(&key)) return false;
        skip();
        if (pos_ >= s_.size() || s_[pos_++] != ':') return false;
        if (!value(&v->fields[key], depth + 1)) return false;
        skip();
        if (pos_ >= s_.size()) return false;
        if (s_[pos_] == ',') { ++pos_; continue; }
        if (s_[pos_] == '}') return ++pos_, true;
        return false;
      }
    }
    if (c == '[') {
      v->kind = Value::array;
      ++pos_;
      skip();
      if (pos_ < s_.size() && s_[pos_] == ']') return ++pos_, true;
      for (;;) {
        v->items.emplace_back();
        if (!value(&v->items.back(), depth + 1)) return false;
        skip();
        if (pos_ >= s_.size()) return false;
        if (s_[pos_] == ',') { ++pos_; continue; }
        if (s_[pos_] == ']') return ++pos_, true;
        return false;
      }
    }
    if (c == '"') {
      v->kind = Value::string;
      return string(&v->str);
    }
    if (literal("true") || literal("false")) return v->kind = Value::boolean, true;
    if (literal("null")) return true;
    const char* begin = s_.c_str() + pos_;
    char* end = nullptr;
    v->num = std::strtod(begin, &end);
    if (end == begin) return false;
    v->kind = Value::number;
    pos_ += static_cast<size_t>(end - begin);
    return true;
  }

  const std::string& s_;
  size_t pos_ = 0;
};

bool get_size(const Value& obj, const char* key, size_t* out, std::string* error, const std::string& where) {
  auto it = obj.fields.find(key);
  if (it == obj.fields.end() || it->second.kind != Value::number || it->second.num < 0) {
    *error = "shapes.json: " + where + " lacks a non-negative number '" + key + "'";
    return false;
  }
  *out = static_cast<size_t>(it->second.num);
  return true;
}

}  // namespace

Shapes parse_shapes(const std::string& text) {
  Shapes out;
  Value root;
  if (!Parser(text).parse(&root, &out.error)) return out;
  if (root.kind != Value::object) {
    out.error = "shapes.json: the top level is not an object";
    return out;
  }
  auto list = [&](const char* key) -> const std::vector<Value>* {
    auto it = root.fields.find(key);
    return it != root.fields.end() && it->second.kind == Value::array ? &it->second.items : nullptr;
  };
  if (const auto* g = list("gemm")) {
    for (const Value& e : *g) {
      GemmShape s;
      auto name = e.fields.find("name");
      if (name == e.fields.end() || name->second.kind != Value::string) {
        out.error = "shapes.json: a gemm entry has no name";
        return out;
      }
      s.name = name->second.str;
      if (!get_size(e, "M", &s.m, &out.error, s.name) || !get_size(e, "K", &s.k, &out.error, s.name) ||
          !get_size(e, "N", &s.n, &out.error, s.name)) {
        return out;
      }
      out.gemm.push_back(s);
    }
  }
  if (const auto* c = list("conv")) {
    for (const Value& e : *c) {
      ConvShape s;
      auto name = e.fields.find("name");
      if (name == e.fields.end() || name->second.kind != Value::string) {
        out.error = "shapes.json: a conv entry has no name";
        return out;
      }
      s.name = name->second.str;
      if (!get_size(e, "H", &s.h, &out.error, s.name) || !get_size(e, "W", &s.w, &out.error, s.name) ||
          !get_size(e, "Cin", &s.cin, &out.error, s.name) || !get_size(e, "Cout", &s.cout, &out.error, s.name) ||
          !get_size(e, "k", &s.kernel, &out.error, s.name) || !get_size(e, "stride", &s.stride, &out.error, s.name) ||
          !get_size(e, "pad", &s.pad, &out.error, s.name) || !get_size(e, "groups", &s.groups, &out.error, s.name)) {
        return out;
      }
      out.conv.push_back(s);
    }
  }
  return out;
}

const Shapes& shapes() {
  static const Shapes cached = [] {
    const char* env = std::getenv("KILN_BENCH_SHAPES");
    const std::string path = env && *env ? env : KILN_SHAPES_JSON_DEFAULT;
    std::ifstream in(path);
    Shapes s;
    if (!in) {
      s.error = "cannot read " + path + " (set KILN_BENCH_SHAPES to the shapes.json to use)";
    } else {
      std::stringstream buf;
      buf << in.rdbuf();
      s = parse_shapes(buf.str());
    }
    s.path = path;
    return s;
  }();
  return cached;
}

}  // namespace kiln::bench
