#include "core/options.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <stdexcept>

#include "core/error.hpp"
#include "core/types.hpp"

namespace diffgen {
namespace {

enum class Color { Red, Green, Blue };

}  // namespace

template <>
struct EnumNames<Color> {
  static constexpr std::array table{std::pair{Color::Red, std::string_view("red")},
                                    std::pair{Color::Green, std::string_view("green")},
                                    std::pair{Color::Blue, std::string_view("blue")}};
};

namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A sub-table, included into Options through an accessor.
struct Inner {
  double scale = 0.5;
  Index width = 8;
};

// One member of every supported type.
struct Options {
  std::int64_t n = 100;
  int small = 3;  // any integral type
  double lr = 1e-3;
  bool exact = true;
  std::string name = "run";
  Color color = Color::Green;
  std::vector<std::int64_t> ns = {2, 4, 8};
  std::vector<double> ts = {0.1, 0.5};
  std::vector<std::string> tags = {"x", "y"};
  std::vector<Color> palette = {Color::Red, Color::Blue};
  Inner inner;
};

const OptionTable<Inner>& inner_table() {
  static const auto table = [] {
    OptionTable<Inner> t;
    t.add("inner.scale", [](Inner & o) -> auto& { return o.scale; }, "scale", {.min = 0.0, .min_exclusive = true});
    t.add("inner.width", [](Inner & o) -> auto& { return o.width; }, "width", {.min = 1, .max = 64});
    return t;
  }();
  return table;
}

const OptionTable<Options>& options_table() {
  using O = Options;
  static const auto table = [] {
    OptionTable<O> t;
    t.add("n", [](O & o) -> auto& { return o.n; }, "training-set size", {.min = 1});
    t.add("small", [](O & o) -> auto& { return o.small; }, "a small int", {.max = 10});
    t.add("lr", [](O & o) -> auto& { return o.lr; }, "learning rate", {.min = 0.0, .min_exclusive = true});
    t.add(
        "exact", [](O & o) -> auto& { return o.exact; }, "exact divergence");
    t.add(
        "name", [](O & o) -> auto& { return o.name; }, "a label");
    t.add(
        "color", [](O & o) -> auto& { return o.color; }, "a colour");
    t.add("grid.ns", [](O & o) -> auto& { return o.ns; }, "sizes", {.min = 1, .min_items = 2});
    t.add("grid.ts", [](O & o) -> auto& { return o.ts; }, "times", {.min = 0.0, .max = 1.0, .max_exclusive = true});
    t.add("grid.tags", [](O & o) -> auto& { return o.tags; }, "tags", {.unique = false, .choices = {"x", "y", "z"}});
    t.add(
        "grid.palette", [](O & o) -> auto& { return o.palette; }, "colours");
    t.include(
        inner_table(), [](O & o) -> auto& { return o.inner; });
    return t;
  }();
  return table;
}

Schema declared(const Options& defaults = {}, const std::vector<std::string>& except = {}) {
  Schema s;
  options_table().declare(s, defaults, except);
  return s;
}

template <typename F>
std::string config_error(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

TEST(EnumNames, NamesAndValuesBothWays) {
  EXPECT_EQ(enum_name(Color::Blue), "blue");
  EXPECT_EQ(enum_from_name<Color>("green"), Color::Green);
  EXPECT_EQ(enum_from_name<Color>("Green"), std::nullopt);  // names are exact
  EXPECT_THAT(enum_choices<Color>(), ElementsAre("red", "green", "blue"));
  EXPECT_EQ(enum_name(static_cast<Color>(7)), "?");
  std::ostringstream os;
  os << Color::Red << "," << Color::Blue;
  EXPECT_EQ(os.str(), "red,blue");
}

TEST(ParseEnum, ParsesOrNamesTheKeyAndTheChoices) {
  EXPECT_EQ(parse_enum<Color>("color", "red"), Color::Red);
  EXPECT_EQ(config_error([] { parse_enum<Color>("plot.color", "purple"); }),
            "plot.color = 'purple' is not allowed (allowed: red, green, blue)");
  EXPECT_THROW(parse_enum<Color>("color", ""), ConfigError);
}

TEST(OptionTable, KeysInDeclarationOrderWithIncludedTables) {
  EXPECT_THAT(options_table().keys(), ElementsAre("n", "small", "lr", "exact", "name", "color", "grid.ns", "grid.ts",
                                                  "grid.tags", "grid.palette", "inner.scale", "inner.width"));
  EXPECT_EQ(declared().key_names(), options_table().keys());
}

TEST(OptionTable, DeclaresTypesDefaultsAndDescriptions) {
  const Schema s = declared();
  const auto spec = [&](const char* key) {
    const KeySpec* k = s.find(key);
    if (!k) throw std::logic_error(std::string("not declared: ") + key);
    return *k;
  };
  EXPECT_EQ(spec("n").type, ValueType::Int);
  EXPECT_EQ(spec("n").default_value, Value(std::int64_t{100}));
  EXPECT_EQ(spec("n").description, "training-set size");
  EXPECT_EQ(spec("small").type, ValueType::Int);
  EXPECT_EQ(spec("small").default_value, Value(std::int64_t{3}));
  EXPECT_EQ(spec("lr").type, ValueType::Double);
  EXPECT_EQ(spec("lr").default_value, Value(1e-3));
  EXPECT_EQ(spec("exact").type, ValueType::Bool);
  EXPECT_EQ(spec("exact").default_value, Value(true));
  EXPECT_EQ(spec("name").type, ValueType::String);
  EXPECT_EQ(spec("name").default_value, Value(std::string("run")));
  // An enum is a string key whose choices are its names.
  EXPECT_EQ(spec("color").type, ValueType::String);
  EXPECT_EQ(spec("color").default_value, Value(std::string("green")));
  EXPECT_THAT(spec("color").choices, ElementsAre("red", "green", "blue"));
  EXPECT_EQ(spec("grid.ns").type, ValueType::IntList);
  EXPECT_EQ(spec("grid.ns").default_value, Value(IntList{2, 4, 8}));
  EXPECT_EQ(spec("grid.ts").type, ValueType::DoubleList);
  EXPECT_EQ(spec("grid.ts").default_value, Value(DoubleList{0.1, 0.5}));
  EXPECT_EQ(spec("grid.tags").type, ValueType::StringList);
  EXPECT_EQ(spec("grid.tags").default_value, Value(StringList{"x", "y"}));
  EXPECT_EQ(spec("grid.palette").type, ValueType::StringList);
  EXPECT_EQ(spec("grid.palette").default_value, Value(StringList{"red", "blue"}));
  EXPECT_THAT(spec("grid.palette").choices, ElementsAre("red", "green", "blue"));
  EXPECT_EQ(spec("inner.scale").default_value, Value(0.5));
  EXPECT_EQ(spec("inner.width").default_value, Value(std::int64_t{8}));
  // Limits are carried over.
  EXPECT_EQ(spec("n").min, 1.0);
  EXPECT_FALSE(spec("n").max);
  EXPECT_TRUE(spec("lr").min_exclusive);
  EXPECT_EQ(spec("grid.ns").min_items, 2u);
  EXPECT_TRUE(spec("grid.ns").unique);
  EXPECT_FALSE(spec("grid.tags").unique);
  EXPECT_TRUE(spec("grid.ts").max_exclusive);
  EXPECT_EQ(allowed_text(spec("grid.ts")), "each in [0, 1), no repeats");
  EXPECT_EQ(allowed_text(spec("inner.width")), "in [1, 64]");
}

TEST(OptionTable, DefaultsComeFromTheDefaultsStruct) {
  Options defaults;
  defaults.n = 7;
  defaults.lr = 0.25;
  defaults.color = Color::Blue;
  defaults.ts = {0.75};
  defaults.palette = {Color::Green};
  defaults.inner.width = 32;
  const Schema s = declared(defaults);
  EXPECT_EQ(s.find("n")->default_value, Value(std::int64_t{7}));
  EXPECT_EQ(s.find("color")->default_value, Value(std::string("blue")));
  EXPECT_EQ(s.find("inner.width")->default_value, Value(std::int64_t{32}));
  // Read back from an untouched Config, the defaults struct comes out.
  const Options read = options_table().read(Config(s));
  EXPECT_EQ(read.n, 7);
  EXPECT_EQ(read.lr, 0.25);
  EXPECT_EQ(read.color, Color::Blue);
  EXPECT_THAT(read.ts, ElementsAre(0.75));
  EXPECT_THAT(read.palette, ElementsAre(Color::Green));
  EXPECT_EQ(read.inner.width, 32);
  EXPECT_EQ(read.inner.scale, 0.5);
}

TEST(OptionTable, EveryTypeReadsBackWhatWasSet) {
  Config c(declared());
  c.set("n", "250");
  c.set("small", "-4");
  c.set("lr", "0.1");
  c.set("exact", "no");
  c.set("name", "trial 2");
  c.set("color", "red");
  c.set("grid.ns", "16, 32, 64");
  c.set("grid.ts", "[0.25, 0]");
  c.set("grid.tags", "z,z,x");
  c.set("grid.palette", "blue,green");
  c.set("inner.scale", "3");
  c.set("inner.width", "64");
  const Options o = options_table().read(c);
  EXPECT_EQ(o.n, 250);
  EXPECT_EQ(o.small, -4);
  EXPECT_EQ(o.lr, 0.1);
  EXPECT_FALSE(o.exact);
  EXPECT_EQ(o.name, "trial 2");
  EXPECT_EQ(o.color, Color::Red);
  EXPECT_THAT(o.ns, ElementsAre(16, 32, 64));
  EXPECT_THAT(o.ts, ElementsAre(0.25, 0.0));
  EXPECT_THAT(o.tags, ElementsAre("z", "z", "x"));
  EXPECT_THAT(o.palette, ElementsAre(Color::Blue, Color::Green));
  EXPECT_EQ(o.inner.scale, 3.0);
  EXPECT_EQ(o.inner.width, 64);

  // read_into replaces lists rather than appending to them.
  Options into;
  into.ns = {1, 2, 3, 4, 5};
  options_table().read_into(c, into);
  EXPECT_THAT(into.ns, ElementsAre(16, 32, 64));

  // The sub-table alone reads the same keys from the same Config.
  const Inner inner = inner_table().read(c);
  EXPECT_EQ(inner.scale, 3.0);
  EXPECT_EQ(inner.width, 64);
}

TEST(OptionTable, ExceptKeysAreLeftOutAndKeepTheStructsValue) {
  const Schema s = declared({}, {"lr", "inner.scale", "grid.palette"});
  EXPECT_EQ(s.find("lr"), nullptr);
  EXPECT_EQ(s.find("inner.scale"), nullptr);
  EXPECT_EQ(s.find("grid.palette"), nullptr);
  EXPECT_NE(s.find("inner.width"), nullptr);
  EXPECT_EQ(s.keys().size(), options_table().keys().size() - 3);

  Config c(s);
  c.set("n", "5");
  Options base;
  base.lr = 0.5;  // an experiment's own value of an excepted key
  base.inner.scale = 9.0;
  base.palette = {Color::Green, Color::Red};
  const Options o = options_table().read(c, base);
  EXPECT_EQ(o.n, 5);
  EXPECT_EQ(o.lr, 0.5);
  EXPECT_EQ(o.inner.scale, 9.0);
  EXPECT_THAT(o.palette, ElementsAre(Color::Green, Color::Red));
}

TEST(OptionTable, KeysAbsentFromTheSchemaKeepTheStructsValue) {
  // A Config of another schema that declares only some of the keys.
  Schema s;
  s.add_int("n", 100, "", 1).add_double("unrelated", 1.0, "");
  Config c(s);
  c.set("n", "12");
  Options base;
  base.name = "kept";
  base.ns = {3};
  const Options o = options_table().read(c, base);
  EXPECT_EQ(o.n, 12);
  EXPECT_EQ(o.name, "kept");
  EXPECT_THAT(o.ns, ElementsAre(3));
  EXPECT_EQ(o.color, Color::Green);
}

TEST(OptionTable, LimitsAreEnforcedByConfig) {
  Config c(declared());
  EXPECT_EQ(config_error([&] { c.set("n", "0"); }), "n = 0 is out of range: must be >= 1");
  EXPECT_EQ(config_error([&] { c.set("small", "11"); }), "small = 11 is out of range: must be <= 10");
  EXPECT_EQ(config_error([&] { c.set("lr", "0"); }), "lr = 0 is out of range: must be > 0");
  EXPECT_EQ(config_error([&] { c.set("inner.width", "65"); }), "inner.width = 65 is out of range: must be in [1, 64]");
  EXPECT_EQ(config_error([&] { c.set("color", "purple"); }),
            "color = 'purple' is not allowed (allowed: red, green, blue)");
  // Lists: each element, the least size, repeats.
  EXPECT_EQ(config_error([&] { c.set("grid.ts", "0.5, 1"); }),
            "grid.ts = [0.5, 1] has element 2 = 1, which is out of range: must be in [0, 1)");
  EXPECT_EQ(config_error([&] { c.set("grid.ns", "4"); }), "grid.ns = [4] has 1 element: give at least 2");
  EXPECT_EQ(config_error([&] { c.set("grid.ns", "4,8,4"); }), "grid.ns = [4, 8, 4] lists 4 twice");
  EXPECT_EQ(config_error([&] { c.set("grid.palette", "red,red"); }), "grid.palette = [red, red] lists red twice");
  EXPECT_EQ(config_error([&] { c.set("grid.palette", "red,pink"); }),
            "grid.palette = [red, pink] has element 2 = pink, which is not allowed (allowed: red, green, blue)");
  EXPECT_EQ(config_error([&] { c.set("grid.tags", "x,w"); }),
            "grid.tags = [x, w] has element 2 = w, which is not allowed (allowed: x, y, z)");
  // Nothing was changed by the refused values.
  const Options o = options_table().read(c);
  EXPECT_EQ(o.n, 100);
  EXPECT_THAT(o.ns, ElementsAre(2, 4, 8));
}

TEST(OptionTable, ADefaultOutsideItsLimitsIsASchemaBug) {
  Options bad;
  bad.n = 0;
  EXPECT_THROW(declared(bad), std::invalid_argument);
  Options repeated;
  repeated.palette = {Color::Red, Color::Red};
  EXPECT_THROW(declared(repeated), std::invalid_argument);
}

TEST(OptionTable, ResolvedTomlReadsBackToTheSameOptions) {
  Config c(declared());
  c.set("lr", "0.1");
  c.set("grid.ts", "0.3333333333333333, 0.1");
  c.set("grid.palette", "green");
  Config back(declared());
  back.merge_toml_string(c.to_toml(), "config.toml");
  const Options a = options_table().read(c), b = options_table().read(back);
  EXPECT_EQ(a.lr, b.lr);
  EXPECT_EQ(a.ts, b.ts);
  EXPECT_EQ(a.palette, b.palette);
  EXPECT_EQ(back.to_toml(), c.to_toml());
}

}  // namespace
}  // namespace diffgen
