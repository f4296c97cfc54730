#include "kiln/calib/overrides.h"

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace kiln::calib {
namespace {

// A cursor over the text with the line number for messages.
struct Reader {
  const std::string& s;
  size_t i = 0;
  std::string err;

  int line() const {
    int l = 1;
    for (size_t k = 0; k < i && k < s.size(); ++k) l += s[k] == '\n';
    return l;
  }
  bool fail(const std::string& m) {
    if (err.empty()) err = "line " + std::to_string(line()) + ": " + m;
    return false;
  }
  void skip(bool newlines = true) {
    while (i < s.size()) {
      if (s[i] == '#') {
        while (i < s.size() && s[i] != '\n') ++i;
      } else if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || (newlines && s[i] == '\n')) {
        ++i;
      } else {
        break;
      }
    }
  }
  bool eat(char c) {
    skip();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  // A quoted string (JSON escapes) or, for YAML, a bare word up to one of `stops`.
  bool key(std::string* out, const char* stops) {
    skip();
    out->clear();
    if (i < s.size() && (s[i] == '"' || s[i] == '\'')) {
      const char q = s[i++];
      while (i < s.size() && s[i] != q) {
        if (s[i] == '\\' && q == '"' && i + 1 < s.size()) {
          const char e = s[++i];
          out->push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e);
          ++i;
        } else {
          out->push_back(s[i++]);
        }
      }
      if (i >= s.size()) return fail("unterminated string");
      ++i;
      return true;
    }
    while (i < s.size() && !std::strchr(stops, s[i]) && s[i] != '\n') out->push_back(s[i++]);
    while (!out->empty() && std::isspace(static_cast<unsigned char>(out->back()))) out->pop_back();
    if (out->empty()) return fail("expected a name");
    return true;
  }
};

bool set_field(Reader& r, LayerOverride* o, const std::string& k, const std::string& v) {
  if (k == "float" || k == "keep_float") {
    if (v != "true" && v != "false") return r.fail("'" + k + "' must be true or false, got '" + v + "'");
    o->keep_float = v == "true";
    return true;
  }
  if (k == "wbits" || k == "abits") {
    char* end = nullptr;
    const long b = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || b < 2 || b > 8) return r.fail("'" + k + "' must be an integer in [2, 8], got '" + v + "'");
    (k == "wbits" ? o->wbits : o->abits) = static_cast<int>(b);
    return true;
  }
  return r.fail("unknown override key '" + k + "' (float, wbits, abits)");
}

// { key: value, ... } (JSON or YAML flow style).
bool flow_object(Reader& r, LayerOverride* o) {
  if (!r.eat('{')) return r.fail("expected '{'");
  if (r.eat('}')) return true;
  for (;;) {
    std::string k, v;
    if (!r.key(&k, ":,}")) return false;
    if (!r.eat(':')) return r.fail("expected ':' after '" + k + "'");
    if (!r.key(&v, ",}")) return false;
    if (!set_field(r, o, k, v)) return false;
    if (r.eat('}')) return true;
    if (!r.eat(',')) return r.fail("expected ',' or '}'");
  }
}

bool parse_json(Reader& r, std::map<std::string, LayerOverride>* out) {
  if (!r.eat('{')) return r.fail("expected '{'");
  if (!r.eat('}')) {
    for (;;) {
      std::string name;
      if (!r.key(&name, ":")) return false;
      if (!r.eat(':')) return r.fail("expected ':' after '" + name + "'");
      LayerOverride o;
      if (!flow_object(r, &o)) return false;
      (*out)[name] = o;
      if (r.eat('}')) break;
      if (!r.eat(',')) return r.fail("expected ',' or '}'");
    }
  }
  r.skip();
  if (r.i != r.s.size()) return r.fail("unexpected text after the object");
  return true;
}

bool parse_yaml(Reader& r, std::map<std::string, LayerOverride>* out) {
  std::string current;  // the layer of an open block
  for (;;) {
    // Start of a line: its indentation decides block field vs new layer.
    while (r.i < r.s.size() && (r.s[r.i] == '\n' || r.s[r.i] == '\r')) ++r.i;
    if (r.i >= r.s.size()) return true;
    size_t indent = 0;
    while (r.i < r.s.size() && (r.s[r.i] == ' ' || r.s[r.i] == '\t')) ++r.i, ++indent;
    if (r.i >= r.s.size() || r.s[r.i] == '\n' || r.s[r.i] == '#' || r.s[r.i] == '\r') {
      r.skip(false);
      continue;
    }
    std::string k;
    if (!r.key(&k, ":")) return false;
    r.skip(false);
    if (r.i >= r.s.size() || r.s[r.i] != ':') return r.fail("expected ':' after '" + k + "'");
    ++r.i;
    r.skip(false);
    if (indent > 0) {
      if (current.empty()) return r.fail("indented line outside a layer");
      std::string v;
      if (!r.key(&v, "")) return false;
      if (!set_field(r, &(*out)[current], k, v)) return false;
      continue;
    }
    if (r.i < r.s.size() && r.s[r.i] == '{') {
      LayerOverride o;
      if (!flow_object(r, &o)) return false;
      (*out)[k] = o;
      current.clear();
    } else if (r.i >= r.s.size() || r.s[r.i] == '\n' || r.s[r.i] == '\r') {
      current = k;
      (*out)[k] = LayerOverride{};
    } else {
      return r.fail("expected '{' or a block of fields after '" + k + ":'");
    }
    r.skip(false);
  }
}

}  // namespace

bool parse_overrides(const std::string& text, std::map<std::string, LayerOverride>* out, std::string* error) {
  Reader r{text, 0, {}};
  std::map<std::string, LayerOverride> m;
  r.skip();
  const bool ok = r.i < text.size() && text[r.i] == '{' ? parse_json(r, &m) : parse_yaml(r, &m);
  if (!ok) {
    *error = r.err;
    return false;
  }
  *out = std::move(m);
  return true;
}

bool load_overrides(const std::string& path, std::map<std::string, LayerOverride>* out, std::string* error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *error = "cannot open overrides file '" + path + "'";
    return false;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  if (!parse_overrides(ss.str(), out, error)) {
    *error = path + ": " + *error;
    return false;
  }
  return true;
}

}  // namespace kiln::calib
