#include "cli_args.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

namespace kiln::cli {
namespace {

const OptionSpec* find_spec(const std::vector<OptionSpec>& specs, const std::string& name) {
  for (const OptionSpec& s : specs) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

// A minimal reader for what config files hold: a flat object of scalars and arrays of scalars.
class FlatJson {
 public:
  explicit FlatJson(const std::string& text) : t_(text) {}

  bool parse(std::vector<std::pair<std::string, std::string>>* out, std::string* error) {
    skip();
    if (!eat('{')) return fail("expected '{' at the start", error);
    skip();
    if (eat('}')) return end(error);
    while (true) {
      std::string key, value;
      skip();
      if (!string(&key)) return fail("expected a quoted key", error);
      skip();
      if (!eat(':')) return fail("expected ':' after \"" + key + "\"", error);
      skip();
      if (eat('[')) {
        skip();
        bool first = true;
        while (!eat(']')) {
          if (!first && !eat(',')) return fail("expected ',' or ']' in \"" + key + "\"", error);
          skip();
          std::string item;
          if (!scalar(&item)) return fail("bad array element in \"" + key + "\"", error);
          value += (first ? "" : ",") + item;
          first = false;
          skip();
        }
      } else if (!scalar(&value)) {
        return fail("bad value for \"" + key + "\" (nested objects are not supported)", error);
      }
      out->emplace_back(key, value);
      skip();
      if (eat(',')) continue;
      if (eat('}')) return end(error);
      return fail("expected ',' or '}'", error);
    }
  }

 private:
  bool fail(const std::string& what, std::string* error) {
    *error = what + " at byte " + std::to_string(p_);
    return false;
  }
  bool end(std::string* error) {
    skip();
    return p_ == t_.size() || fail("trailing characters", error);
  }
  void skip() {
    while (p_ < t_.size() && std::isspace(static_cast<unsigned char>(t_[p_]))) ++p_;
  }
  bool eat(char c) {
    if (p_ < t_.size() && t_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool string(std::string* out) {
    if (!eat('"')) return false;
    while (p_ < t_.size() && t_[p_] != '"') {
      if (t_[p_] == '\\' && p_ + 1 < t_.size()) ++p_;
      *out += t_[p_++];
    }
    return eat('"');
  }
  bool scalar(std::string* out) {
    if (p_ < t_.size() && t_[p_] == '"') return string(out);
    const size_t start = p_;
    while (p_ < t_.size() && (std::isalnum(static_cast<unsigned char>(t_[p_])) || t_[p_] == '.' || t_[p_] == '-' ||
                              t_[p_] == '+')) {
      ++p_;
    }
    *out = t_.substr(start, p_ - start);
    return !out->empty();
  }

  const std::string& t_;
  size_t p_ = 0;
};

// YAML subset: "key: value" per line, '#' comments, values plain, quoted or "[a, b]" lists.
bool parse_yaml(const std::string& text, std::vector<std::pair<std::string, std::string>>* out, std::string* error) {
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.erase(hash);
    line = trim(line);
    if (line.empty() || line == "---") continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) {
      *error = "line " + std::to_string(n) + ": expected 'key: value'";
      return false;
    }
    std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    if (!value.empty() && value.front() == '[' && value.back() == ']') value = value.substr(1, value.size() - 2);
    std::vector<std::string> items;
    parse_list(value, &items);
    std::string joined;
    for (std::string& item : items) {
      if (item.size() >= 2 && (item.front() == '"' || item.front() == '\'') && item.back() == item.front()) {
        item = item.substr(1, item.size() - 2);
      }
      joined += (joined.empty() ? "" : ",") + item;
    }
    if (key.empty() || joined.empty()) {
      *error = "line " + std::to_string(n) + ": empty key or value";
      return false;
    }
    out->emplace_back(key, joined);
  }
  return true;
}

}  // namespace

std::string ParsedArgs::get(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  return it == values.end() || it->second.empty() ? fallback : it->second.back();
}

const std::vector<std::string>& ParsedArgs::all(const std::string& name) const {
  static const std::vector<std::string> kNone;
  auto it = values.find(name);
  return it == values.end() ? kNone : it->second;
}

bool parse_args(int argc, char** argv, const std::vector<OptionSpec>& specs, ParsedArgs* out, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      out->help = true;
      continue;
    }
    if (a == "-o") a = "--output";
    if (a.size() > 2 && a[0] == '-' && a[1] == '-') {
      std::string name = a.substr(2), value;
      bool inline_value = false;
      if (const size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.erase(eq);
        inline_value = true;
      }
      const OptionSpec* s = find_spec(specs, name);
      if (!s) {
        *error = "unknown option '--" + name + "'";
        return false;
      }
      if (s->takes_value && !inline_value) {
        if (i + 1 >= argc) {
          *error = "--" + name + " needs a value";
          return false;
        }
        value = argv[++i];
      } else if (!s->takes_value && inline_value) {
        *error = "--" + name + " takes no value";
        return false;
      }
      auto& v = out->values[name];
      if (!s->repeatable) v.clear();
      v.push_back(value);
    } else if (a.size() > 1 && a[0] == '-') {
      *error = "unknown option '" + a + "'";
      return false;
    } else {
      out->positionals.push_back(a);
    }
  }
  return true;
}

bool read_config_file(const std::string& path, const std::vector<OptionSpec>& specs,
                      std::map<std::string, std::vector<std::string>>* out, std::string* error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *error = "cannot open the config file";
    return false;
  }
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::pair<std::string, std::string>> pairs;
  std::string err;
  const std::string t = trim(text);
  const bool ok = !t.empty() && t[0] == '{' ? FlatJson(t).parse(&pairs, &err) : parse_yaml(text, &pairs, &err);
  if (!ok) {
    *error = "bad config file: " + err;
    return false;
  }
  for (auto& [key, value] : pairs) {
    std::string name = key;
    for (char& c : name) {
      if (c == '_') c = '-';
    }
    const OptionSpec* s = find_spec(specs, name);
    if (!s || name == "config") {
      *error = "unknown key '" + key + "' in the config file";
      return false;
    }
    if (!s->takes_value) {
      if (value == "false" || value == "0") continue;
      if (value != "true" && value != "1") {
        *error = "key '" + key + "' in the config file takes true or false";
        return false;
      }
      value.clear();
    }
    (*out)[name] = {value};
  }
  return true;
}

void merge_config(const std::map<std::string, std::vector<std::string>>& config, ParsedArgs* args) {
  for (const auto& [name, v] : config) {
    if (!args->has(name)) args->values[name] = v;
  }
}

bool parse_int_option(const std::string& name, const std::string& text, long long min, long long max,
                      long long* out, std::string* error) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < min || v > max) {
    *error = "--" + name + ": '" + text + "' is not a whole number in [" + std::to_string(min) + ", " +
             std::to_string(max) + "]";
    return false;
  }
  *out = v;
  return true;
}

bool parse_list(const std::string& text, std::vector<std::string>* out) {
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    item = trim(item);
    if (!item.empty()) out->push_back(item);
  }
  return !out->empty();
}

}  // namespace kiln::cli
