// Command-line parsing shared by the kiln subcommands: each command declares its options (name and
// whether it takes a value); the parser collects positionals and option values (the last one wins,
// except for repeatable options), and rejects unknown options. `--config FILE` (JSON object or the
// YAML subset `key: value`) supplies the same keys; the command line overrides the file.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace kiln::cli {

struct OptionSpec {
  const char* name;  // without the leading "--"
  bool takes_value;
  bool repeatable = false;
};

struct ParsedArgs {
  std::vector<std::string> positionals;
  std::map<std::string, std::vector<std::string>> values;  // option -> every value given, in order
  bool help = false;

  bool has(const std::string& name) const { return values.count(name) != 0; }
  // The last value given, or `fallback`.
  std::string get(const std::string& name, const std::string& fallback = "") const;
  const std::vector<std::string>& all(const std::string& name) const;
};

// argv[0] is the subcommand's name. False with a message for an unknown option or a missing value.
bool parse_args(int argc, char** argv, const std::vector<OptionSpec>& specs, ParsedArgs* out, std::string* error);

// Reads a flat JSON object or YAML mapping into option/value pairs: arrays become comma-separated
// lists ("mean": [0.5, 0.5] -> "0.5,0.5"), true becomes a flag, false drops the key, keys may use
// '_' for '-'. Keys not in `specs` are an error naming the key.
bool read_config_file(const std::string& path, const std::vector<OptionSpec>& specs,
                      std::map<std::string, std::vector<std::string>>* out, std::string* error);

// Merges a config file's values under the command line's (an option given on the command line wins).
void merge_config(const std::map<std::string, std::vector<std::string>>& config, ParsedArgs* args);

// Strict number parsing for option values: false with "--name: '<text>' is not a ..." on error.
bool parse_int_option(const std::string& name, const std::string& text, long long min, long long max,
                      long long* out, std::string* error);
bool parse_list(const std::string& text, std::vector<std::string>* out);  // comma separated, trimmed

}  // namespace kiln::cli
