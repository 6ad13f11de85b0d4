// Settings with a schema. An experiment declares every key it reads (type,
// default, range or choices, meaning) in a Schema; a Config holds one value
// per key, starting from the defaults, and is changed only through validated
// assignments (--set key=value, a TOML file), so a running experiment never
// sees a value its schema does not allow. User mistakes raise ConfigError
// (exit code 2) naming the key, the value given and what is allowed; asking
// for an undeclared key or the wrong type in code is a bug (std::logic_error).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace diffgen {

// Scalars, and lists of one element type (a TOML array; on the command line
// "2,4,8" or "[2, 4, 8]"), whose every element is checked like a scalar.
enum class ValueType { Int, Double, Bool, String, IntList, DoubleList, StringList };
using IntList = std::vector<std::int64_t>;
using DoubleList = std::vector<double>;
using StringList = std::vector<std::string>;
using Value = std::variant<std::int64_t, double, bool, std::string, IntList, DoubleList, StringList>;

struct KeySpec {
  std::string key;  // dotted, e.g. "kl.t0"; each part is [A-Za-z0-9_-]+
  ValueType type = ValueType::Double;
  Value default_value;
  std::string description;
  std::optional<double> min, max;  // numeric keys (and each element of a numeric list) only
  bool min_exclusive = false, max_exclusive = false;
  std::vector<std::string> choices;  // allowed strings (and string-list elements); empty = any
  // Lists: at least this many elements, and no element twice when `unique`.
  std::size_t min_items = 1;
  bool unique = true;
};

// Whether the type is one of the list types, and the scalar type of its elements.
bool is_list(ValueType type);
ValueType element_type(ValueType type);

// "int", "double", "bool", "string", "list of int", ...
std::string_view type_name(ValueType type);
// A value as a user would type it: 100, 0.001, true, adam, [2, 4, 8]. Doubles
// use the shortest text that reads back to the same number.
std::string format_value(const Value& value);
// What a key allows, for messages and `describe`: ">= 1", "> 0 and <= 1",
// "sgd | adam", "true | false"; empty when anything of the type is allowed.
std::string allowed_text(const KeySpec& spec);
// The candidates closest to `word` by edit distance (typos, swapped
// letters), best first; empty when none is close enough to be a likely typo.
// A dotted candidate also matches by its last part, so "t0" finds "kl.t0".
std::vector<std::string> closest_names(std::string_view word, const std::vector<std::string>& candidates);

class Schema {
 public:
  // Adds a key. Throws std::invalid_argument on a schema bug: a malformed or
  // duplicate key, a key that is also a table of other keys, a default of the
  // wrong type or outside its own range.
  Schema& add(KeySpec spec);
  Schema& add_int(std::string key, std::int64_t default_value, std::string description,
                  std::optional<std::int64_t> min = std::nullopt, std::optional<std::int64_t> max = std::nullopt);
  Schema& add_double(std::string key, double default_value, std::string description,
                     std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt,
                     bool min_exclusive = false, bool max_exclusive = false);
  Schema& add_bool(std::string key, bool default_value, std::string description);
  Schema& add_string(std::string key, std::string default_value, std::string description,
                     std::vector<std::string> choices = {});

  // An old spelling of a key: setting it is refused (exit 2) with "renamed
  // to NEW". Ignored unless NEW is declared; an old key with several new
  // names (one per experiment's keys) names the first one declared.
  Schema& add_renamed(std::string old_key, std::string new_key);
  // The new name of an old key, or nullptr.
  const std::string* renamed_to(std::string_view old_key) const;

  // nullptr when the key is not declared.
  const KeySpec* find(std::string_view key) const;
  // In declaration order: the order of `describe` and of config.toml.
  const std::vector<KeySpec>& keys() const { return keys_; }
  std::vector<std::string> key_names() const;

 private:
  std::vector<KeySpec> keys_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::map<std::string, std::vector<std::string>, std::less<>> renamed_;
};

class Config {
 public:
  explicit Config(Schema schema);

  // Parses `text` as the key's type and validates it. Ints reject "1.5";
  // bools accept true/false/1/0/yes/no (any case); doubles accept 1e-4 and
  // reject nan and inf; lists are "a,b,c" or a TOML array "[a, b, c]";
  // ranges and choices are checked (for a list, of every element).
  void set(std::string_view key, std::string_view text);
  // A typed value (an int is accepted for a double key), validated like set.
  void set_value(std::string_view key, const Value& value);
  // "key=value", as given to --set.
  void set_from_assignment(std::string_view assignment);
  // Applies every key of a TOML file (nested tables give dotted keys; an int
  // is accepted for a double key). All or nothing: on any error the Config is
  // unchanged and ConfigError names the file, line and column.
  void merge_toml_file(const std::filesystem::path& path);
  // The same for TOML text; `source` names it in messages.
  void merge_toml_string(std::string_view text, std::string_view source = "<string>");

  std::int64_t get_int(std::string_view key) const;
  double get_double(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  const std::string& get_string(std::string_view key) const;
  const IntList& get_int_list(std::string_view key) const;
  const DoubleList& get_double_list(std::string_view key) const;
  const StringList& get_string_list(std::string_view key) const;
  const Value& get(std::string_view key) const;

  // Whether the key was assigned (by set, a file, ...) rather than left at its default.
  bool is_user_set(std::string_view key) const;
  // The assigned keys, in schema order.
  std::vector<std::string> user_set_keys() const;

  // Every key with its resolved value, grouped into TOML tables by prefix,
  // each preceded by its description as a comment. merge_toml_string of this
  // text into a fresh Config gives the same values.
  std::string to_toml() const;

  const Schema& schema() const { return schema_; }

 private:
  std::size_t index_of(std::string_view key) const;                       // ConfigError for an unknown key
  std::size_t checked_index(std::string_view key, ValueType type) const;  // logic_error on misuse

  Schema schema_;
  std::vector<Value> values_;  // parallel to schema_.keys()
  std::vector<bool> user_set_;
};

}  // namespace diffgen
