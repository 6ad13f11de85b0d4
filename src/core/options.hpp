// Options structs bound to configuration keys, each declared once. A table
// of entries names a key, how to reach its member in the options struct, its
// meaning and its limits; the key's default is the struct's own value. The
// same table declares the keys in a Schema (`describe`, config.toml) and
// reads them back from a Config, so a key's name, default and range cannot
// drift apart between the two.
//
// Enumerations are named once too (EnumNames): the library works with the
// enum, and strings become enums here, at the configuration boundary.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "core/error.hpp"

namespace diffgen {

// Specialize with `static constexpr std::array<std::pair<E, std::string_view>, N> table`
// listing every value of E with its name, in the order `describe` shows them.
template <class E>
struct EnumNames;

template <class E>
concept NamedEnum = std::is_enum_v<E> && requires { EnumNames<E>::table; };

template <NamedEnum E>
std::string_view enum_name(E value) {
  for (const auto& [v, name] : EnumNames<E>::table)
    if (v == value) return name;
  return "?";
}

template <NamedEnum E>
std::optional<E> enum_from_name(std::string_view name) {
  for (const auto& [v, n] : EnumNames<E>::table)
    if (n == name) return v;
  return std::nullopt;
}

template <NamedEnum E>
std::vector<std::string> enum_choices() {
  std::vector<std::string> names;
  for (const auto& [v, name] : EnumNames<E>::table) names.emplace_back(name);
  return names;
}

// Writes the enum's name (test messages, logs).
template <NamedEnum E>
std::ostream& operator<<(std::ostream& os, E value) {
  return os << enum_name(value);
}

// The enum named `text`; ConfigError naming `key` and the choices otherwise.
template <NamedEnum E>
E parse_enum(std::string_view key, std::string_view text) {
  if (const auto v = enum_from_name<E>(text)) return *v;
  std::string allowed;
  for (const auto& name : enum_choices<E>()) allowed += (allowed.empty() ? "" : ", ") + name;
  throw ConfigError(std::string(key) + " = '" + std::string(text) + "' is not allowed (allowed: " + allowed + ")");
}

// What a key allows beyond its type (numbers: a range; lists: each element's
// range, a least size, no repeats).
struct KeyLimits {
  std::optional<double> min, max;
  bool min_exclusive = false, max_exclusive = false;
  std::size_t min_items = 1;
  bool unique = true;
  std::vector<std::string> choices;  // strings (and string lists) only; enums list their names
};

template <class O>
class OptionTable {
 public:
  // `access(options)` returns a reference to the member the key sets: one of
  // std::int64_t (Index), double, bool, std::string, a NamedEnum, or a
  // std::vector of std::int64_t, double, std::string or a NamedEnum.
  template <class Access>
  OptionTable& add(std::string key, Access access, std::string description, KeyLimits limits = {}) {
    using T = std::remove_cvref_t<std::invoke_result_t<Access, O&>>;
    Entry e;
    e.key = key;
    e.spec = [=](const O& defaults) {
      O copy = defaults;
      KeySpec spec = spec_of(key, static_cast<const T&>(access(copy)), description, limits);
      return spec;
    };
    e.read = [=](const Config& config, O& options) { assign(config, key, access(options)); };
    entries_.push_back(std::move(e));
    return *this;
  }

  // Every key of `table`, for the member `access(options)` of these options:
  // a concept's keys (sde.*, model.*) inside an experiment's settings.
  template <class P, class Access>
  OptionTable& include(const OptionTable<P>& table, Access access) {
    for (const auto& sub : table.entries_) {
      Entry e;
      e.key = sub.key;
      e.spec = [=, spec = sub.spec](const O& defaults) {
        O copy = defaults;
        return spec(access(copy));
      };
      e.read = [=, read = sub.read](const Config& config, O& options) { read(config, access(options)); };
      entries_.push_back(std::move(e));
    }
    return *this;
  }

  // Adds every key of the table to `schema` with `defaults`' values, except
  // those in `except` (keys an experiment sets itself).
  void declare(Schema& schema, const O& defaults = O{}, const std::vector<std::string>& except = {}) const {
    for (const auto& e : entries_)
      if (std::find(except.begin(), except.end(), e.key) == except.end()) schema.add(e.spec(defaults));
  }

  // Sets the members of every key the config declares; the others keep their values.
  void read_into(const Config& config, O& options) const {
    for (const auto& e : entries_)
      if (config.schema().find(e.key)) e.read(config, options);
  }
  O read(const Config& config, O options = O{}) const {
    read_into(config, options);
    return options;
  }

  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    for (const auto& e : entries_) out.push_back(e.key);
    return out;
  }

 private:
  template <class>
  friend class OptionTable;

  struct Entry {
    std::string key;
    std::function<KeySpec(const O&)> spec;
    std::function<void(const Config&, O&)> read;
  };

  template <class T>
  static KeySpec spec_of(const std::string& key, const T& value, const std::string& description,
                         const KeyLimits& limits) {
    KeySpec spec;
    spec.key = key;
    spec.description = description;
    spec.min = limits.min;
    spec.max = limits.max;
    spec.min_exclusive = limits.min_exclusive;
    spec.max_exclusive = limits.max_exclusive;
    spec.min_items = limits.min_items;
    spec.unique = limits.unique;
    spec.choices = limits.choices;
    if constexpr (std::is_same_v<T, bool>) {
      spec.type = ValueType::Bool;
      spec.default_value = value;
    } else if constexpr (NamedEnum<T>) {
      spec.type = ValueType::String;
      spec.default_value = std::string(enum_name(value));
      spec.choices = enum_choices<T>();
    } else if constexpr (std::is_integral_v<T>) {
      spec.type = ValueType::Int;
      spec.default_value = static_cast<std::int64_t>(value);
    } else if constexpr (std::is_floating_point_v<T>) {
      spec.type = ValueType::Double;
      spec.default_value = static_cast<double>(value);
    } else if constexpr (std::is_same_v<T, std::string>) {
      spec.type = ValueType::String;
      spec.default_value = value;
    } else {
      using U = typename T::value_type;
      if constexpr (NamedEnum<U>) {
        spec.type = ValueType::StringList;
        StringList names;
        for (U v : value) names.emplace_back(enum_name(v));
        spec.default_value = names;
        spec.choices = enum_choices<U>();
      } else if constexpr (std::is_integral_v<U>) {
        spec.type = ValueType::IntList;
        spec.default_value = IntList(value.begin(), value.end());
      } else if constexpr (std::is_floating_point_v<U>) {
        spec.type = ValueType::DoubleList;
        spec.default_value = DoubleList(value.begin(), value.end());
      } else {
        static_assert(std::is_same_v<U, std::string>, "OptionTable: unsupported member type");
        spec.type = ValueType::StringList;
        spec.default_value = StringList(value.begin(), value.end());
      }
    }
    return spec;
  }

  template <class T>
  static void assign(const Config& config, const std::string& key, T& member) {
    if constexpr (std::is_same_v<T, bool>) {
      member = config.get_bool(key);
    } else if constexpr (NamedEnum<T>) {
      member = parse_enum<T>(key, config.get_string(key));
    } else if constexpr (std::is_integral_v<T>) {
      member = static_cast<T>(config.get_int(key));
    } else if constexpr (std::is_floating_point_v<T>) {
      member = config.get_double(key);
    } else if constexpr (std::is_same_v<T, std::string>) {
      member = config.get_string(key);
    } else {
      using U = typename T::value_type;
      member.clear();
      if constexpr (NamedEnum<U>) {
        for (const auto& name : config.get_string_list(key)) member.push_back(parse_enum<U>(key, name));
      } else if constexpr (std::is_integral_v<U>) {
        for (auto v : config.get_int_list(key)) member.push_back(static_cast<U>(v));
      } else if constexpr (std::is_floating_point_v<U>) {
        for (double v : config.get_double_list(key)) member.push_back(v);
      } else {
        member = config.get_string_list(key);
      }
    }
  }

  std::vector<Entry> entries_;
};

}  // namespace diffgen
