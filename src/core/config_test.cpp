#include "core/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>

#include "core/error.hpp"

namespace diffgen {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// The keys of the early-stopping experiment, plus a nested table and a bool.
Schema test_schema() {
  Schema s;
  s.add_int("n", 100, "Training-set size.", 1)
      .add_double("lr", 1e-3, "Learning rate.", 0.0, std::nullopt, /*min_exclusive=*/true)
      .add_string("optimizer", "adam", "Optimizer.", {"sgd", "adam"})
      .add_int("hidden", 64, "Hidden units per layer.", 1, 4096)
      .add_int("epochs", 2000, "Training epochs.", 0)
      .add_int("seed", 0, "Base seed.")
      .add_double("kl.t0", 1e-3, "Earliest diffusion time of the KL integral.", 0.0, 1.0, true, false)
      .add_bool("kl.exact", true, "Use the exact divergence.")
      .add_string("name", "run", "A free-form label.");
  return s;
}

// The ConfigError message of `f`, failing the test if nothing is thrown.
template <typename F>
std::string config_error(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("diffgen_config_test_" + name);
  std::ofstream(path) << text;
  return path;
}

TEST(Schema, KeepsDeclarationOrderAndFindsKeys) {
  const Schema s = test_schema();
  ASSERT_EQ(s.keys().size(), 9u);
  EXPECT_EQ(s.keys()[0].key, "n");
  EXPECT_EQ(s.keys()[6].key, "kl.t0");
  ASSERT_NE(s.find("kl.t0"), nullptr);
  EXPECT_EQ(s.find("kl.t0")->type, ValueType::Double);
  EXPECT_EQ(s.find("missing"), nullptr);
}

TEST(Schema, RejectsSchemaBugs) {
  EXPECT_THROW(Schema().add_int("n", 0, "", 1), std::invalid_argument);                        // default below min
  EXPECT_THROW(Schema().add_int("n", 1, "").add_int("n", 1, ""), std::invalid_argument);       // duplicate
  EXPECT_THROW(Schema().add_int("a b", 1, ""), std::invalid_argument);                         // bad characters
  EXPECT_THROW(Schema().add_int("a..b", 1, ""), std::invalid_argument);                        // empty part
  EXPECT_THROW(Schema().add_int("kl", 1, "").add_int("kl.t0", 1, ""), std::invalid_argument);  // key and table
  EXPECT_THROW(Schema().add_string("o", "x", "", {"a", "b"}), std::invalid_argument);          // default not a choice
  EXPECT_THROW(Schema().add_double("x", 0.0, "", 0.0, std::nullopt, true), std::invalid_argument);  // exclusive
  KeySpec wrong_type{"x", ValueType::Int, 1.5, "", std::nullopt, std::nullopt, false, false, {}};
  EXPECT_THROW(Schema().add(wrong_type), std::invalid_argument);
}

TEST(Config, StartsFromDefaults) {
  const Config c(test_schema());
  EXPECT_EQ(c.get_int("n"), 100);
  EXPECT_DOUBLE_EQ(c.get_double("lr"), 1e-3);
  EXPECT_EQ(c.get_string("optimizer"), "adam");
  EXPECT_TRUE(c.get_bool("kl.exact"));
  EXPECT_TRUE(c.user_set_keys().empty());
}

TEST(Config, SetParsesEachType) {
  Config c(test_schema());
  c.set("n", "250");
  c.set("lr", "1e-4");
  c.set("optimizer", "sgd");
  c.set("kl.exact", "no");
  c.set("seed", "-3");
  c.set("hidden", " +32 ");
  EXPECT_EQ(c.get_int("n"), 250);
  EXPECT_DOUBLE_EQ(c.get_double("lr"), 1e-4);
  EXPECT_EQ(c.get_string("optimizer"), "sgd");
  EXPECT_FALSE(c.get_bool("kl.exact"));
  EXPECT_EQ(c.get_int("seed"), -3);
  EXPECT_EQ(c.get_int("hidden"), 32);
  for (const char* yes : {"true", "1", "yes", "YES", "True"}) {
    c.set("kl.exact", yes);
    EXPECT_TRUE(c.get_bool("kl.exact")) << yes;
  }
  for (const char* no : {"false", "0", "no", "No"}) {
    c.set("kl.exact", no);
    EXPECT_FALSE(c.get_bool("kl.exact")) << no;
  }
  // An int is a valid double.
  c.set("lr", "2");
  EXPECT_DOUBLE_EQ(c.get_double("lr"), 2.0);
}

TEST(Config, TracksUserSetKeysInSchemaOrder) {
  Config c(test_schema());
  c.set("optimizer", "sgd");
  c.set_from_assignment("n=5");
  EXPECT_THAT(c.user_set_keys(), ElementsAre("n", "optimizer"));
  EXPECT_TRUE(c.is_user_set("n"));
  EXPECT_FALSE(c.is_user_set("lr"));
}

TEST(Config, UnknownKeySuggestsTheClosest) {
  Config c(test_schema());
  EXPECT_EQ(config_error([&] { c.set("lrr", "0.1"); }), "unknown key 'lrr' (did you mean 'lr'?)");
  EXPECT_THAT(config_error([&] { c.set("optimiser", "sgd"); }), HasSubstr("did you mean 'optimizer'?"));
  EXPECT_THAT(config_error([&] { c.set("hiddne", "3"); }), HasSubstr("did you mean 'hidden'?"));  // swapped letters
  // A dotted key is found by its last part.
  EXPECT_THAT(config_error([&] { c.set("t0", "0.1"); }), HasSubstr("did you mean 'kl.t0'?"));
  // Nothing close: list what exists.
  EXPECT_THAT(config_error([&] { c.set("zzzzzzzz", "1"); }),
              AllOf(HasSubstr("unknown key 'zzzzzzzz'"), HasSubstr("known keys: n, lr, optimizer")));
}

TEST(Config, NotANumber) {
  Config c(test_schema());
  EXPECT_EQ(config_error([&] { c.set("lr", "abc"); }), "lr = 'abc' is not a number");
  EXPECT_EQ(config_error([&] { c.set("lr", ""); }), "lr = '' is not a number");
  EXPECT_EQ(config_error([&] { c.set("lr", "1e-4x"); }), "lr = '1e-4x' is not a number");
  EXPECT_EQ(config_error([&] { c.set("n", "abc"); }), "n = 'abc' is not an integer");
  EXPECT_EQ(config_error([&] { c.set("n", "1.5"); }), "n = '1.5' is not an integer");
  EXPECT_EQ(config_error([&] { c.set("n", "1e3"); }), "n = '1e3' is not an integer");
  EXPECT_THAT(config_error([&] { c.set("n", "99999999999999999999"); }), HasSubstr("out of range for a 64-bit"));
  EXPECT_THAT(config_error([&] { c.set("lr", "1e999"); }), HasSubstr("lr = '1e999' is out of range"));
  EXPECT_THAT(config_error([&] { c.set("kl.exact", "maybe"); }),
              AllOf(HasSubstr("kl.exact = 'maybe' is not a boolean"), HasSubstr("true, false")));
}

TEST(Config, NonFiniteRejected) {
  Config c(test_schema());
  EXPECT_EQ(config_error([&] { c.set("lr", "nan"); }), "lr = nan is not a finite number");
  EXPECT_EQ(config_error([&] { c.set("lr", "inf"); }), "lr = inf is not a finite number");
  EXPECT_EQ(config_error([&] { c.set("lr", "-Infinity"); }), "lr = -Infinity is not a finite number");
  EXPECT_EQ(config_error([&] { c.set_value("lr", std::numeric_limits<double>::quiet_NaN()); }),
            "lr = nan is not a finite number");
}

TEST(Config, OutOfRange) {
  Config c(test_schema());
  EXPECT_EQ(config_error([&] { c.set("n", "0"); }), "n = 0 is out of range: must be >= 1");
  EXPECT_EQ(config_error([&] { c.set("lr", "0"); }), "lr = 0 is out of range: must be > 0");
  EXPECT_EQ(config_error([&] { c.set("lr", "-0.5"); }), "lr = -0.5 is out of range: must be > 0");
  EXPECT_EQ(config_error([&] { c.set("hidden", "5000"); }), "hidden = 5000 is out of range: must be in [1, 4096]");
  EXPECT_EQ(config_error([&] { c.set("kl.t0", "0"); }), "kl.t0 = 0 is out of range: must be in (0, 1]");
  c.set("kl.t0", "1");  // the closed end is allowed
  c.set("hidden", "4096");
  EXPECT_EQ(c.get_int("hidden"), 4096);
}

TEST(Config, ChoiceNotAllowed) {
  Config c(test_schema());
  EXPECT_EQ(config_error([&] { c.set("optimizer", "adamw"); }),
            "optimizer = 'adamw' is not allowed (allowed: sgd, adam)");
  EXPECT_EQ(c.get_string("optimizer"), "adam");  // unchanged after a failed set
}

TEST(Config, Assignment) {
  Config c(test_schema());
  c.set_from_assignment("name=a=b");  // only the first '=' splits
  EXPECT_EQ(c.get_string("name"), "a=b");
  c.set_from_assignment(" n = 7");
  EXPECT_EQ(c.get_int("n"), 7);
  EXPECT_THAT(config_error([&] { c.set_from_assignment("n"); }), HasSubstr("expected key=value"));
  EXPECT_THAT(config_error([&] { c.set_from_assignment("=3"); }), HasSubstr("expected key=value"));
  EXPECT_EQ(config_error([&] { c.set_from_assignment("lrr=0.1"); }), "unknown key 'lrr' (did you mean 'lr'?)");
}

TEST(Config, MisuseInCodeIsALogicError) {
  const Config c(test_schema());
  EXPECT_THROW(c.get_int("lr"), std::logic_error);
  EXPECT_THROW(c.get_double("undeclared"), std::logic_error);
  EXPECT_THROW(c.get_string("n"), std::logic_error);
}

TEST(Config, MergesNestedToml) {
  Config c(test_schema());
  c.merge_toml_string(R"(
n = 10
lr = 1          # an integer is accepted for a double key
optimizer = "sgd"

[kl]
t0 = 0.5
exact = false
)",
                      "preset.toml");
  EXPECT_EQ(c.get_int("n"), 10);
  EXPECT_DOUBLE_EQ(c.get_double("lr"), 1.0);
  EXPECT_EQ(c.get_string("optimizer"), "sgd");
  EXPECT_DOUBLE_EQ(c.get_double("kl.t0"), 0.5);
  EXPECT_FALSE(c.get_bool("kl.exact"));
  EXPECT_THAT(c.user_set_keys(), ElementsAre("n", "lr", "optimizer", "kl.t0", "kl.exact"));
  // Dotted keys and inline tables flatten the same way.
  c.merge_toml_string("kl.t0 = 0.25\n");
  EXPECT_DOUBLE_EQ(c.get_double("kl.t0"), 0.25);
  c.merge_toml_string("kl = { t0 = 0.125 }\n");
  EXPECT_DOUBLE_EQ(c.get_double("kl.t0"), 0.125);
}

TEST(Config, TomlErrorsNameFileLineAndKey) {
  Config c(test_schema());
  const std::string parse = config_error([&] { c.merge_toml_string("n = 1\nlr = = 2\n", "bad.toml"); });
  EXPECT_THAT(parse, AllOf(HasSubstr("bad.toml:2:"), HasSubstr("invalid TOML")));

  EXPECT_EQ(config_error([&] { c.merge_toml_string("n = 1\nlrr = 0.1\n", "a.toml"); }),
            "a.toml:2:7: unknown key 'lrr' (did you mean 'lr'?)");
  EXPECT_EQ(config_error([&] { c.merge_toml_string("n = 1.5\n", "a.toml"); }), "a.toml:1:5: n = 1.5 is not an integer");
  EXPECT_EQ(config_error([&] { c.merge_toml_string("n = \"3\"\n", "a.toml"); }),
            "a.toml:1:5: n = '3' is not an integer");
  EXPECT_EQ(config_error([&] { c.merge_toml_string("lr = nan\n", "a.toml"); }),
            "a.toml:1:6: lr = nan is not a finite number");
  EXPECT_EQ(config_error([&] { c.merge_toml_string("n = 0\n", "a.toml"); }),
            "a.toml:1:5: n = 0 is out of range: must be >= 1");
  EXPECT_EQ(config_error([&] { c.merge_toml_string("optimizer = \"adamw\"\n", "a.toml"); }),
            "a.toml:1:13: optimizer = 'adamw' is not allowed (allowed: sgd, adam)");
  EXPECT_EQ(config_error([&] { c.merge_toml_string("[kl]\nexact = 1\n", "a.toml"); }),
            "a.toml:2:9: kl.exact = 1 is not a boolean (true or false)");
  EXPECT_THAT(config_error([&] { c.merge_toml_string("n = [1, 2]\n", "a.toml"); }),
              HasSubstr("n = [...] is not a single int value"));
  EXPECT_THAT(config_error([&] { c.merge_toml_string("[kl]\nt1 = 0.1\n", "a.toml"); }),
              HasSubstr("unknown key 'kl.t1' (did you mean 'kl.t0'?)"));
}

// Regressions found by fuzz/fuzz_config: a bare non-ASCII value sent Debian's
// toml++ 3.3 into undefined behaviour, and invalid UTF-8 given to --set made a
// config.toml that could not be read back.
TEST(Config, NonAsciiOutsideStringsIsAClearError) {
  Config c(test_schema());
  const std::string e = config_error([&] { c.merge_toml_string("name = \u03bb\n", "greek.toml"); });
  EXPECT_THAT(e, HasSubstr("greek.toml:1:8"));
  c.merge_toml_string("name = \"\u03bb\"\n", "quoted.toml");  // inside a string it is fine
  EXPECT_EQ(c.get_string("name"), "\u03bb");
}

TEST(Config, InvalidUtf8StringIsRefused) {
  Config c(test_schema());
  const std::string e = config_error([&] { c.set("name", "\xff"); });
  EXPECT_THAT(e, HasSubstr("name"));
}

TEST(Config, TomlMergeIsAllOrNothing) {
  Config c(test_schema());
  EXPECT_THROW(c.merge_toml_string("n = 5\noptimizer = \"adamw\"\n"), ConfigError);
  EXPECT_EQ(c.get_int("n"), 100);
  EXPECT_TRUE(c.user_set_keys().empty());
}

TEST(Config, TomlFile) {
  Config c(test_schema());
  const auto path = write_temp("ok.toml", "n = 42\n[kl]\nt0 = 0.01\n");
  c.merge_toml_file(path);
  EXPECT_EQ(c.get_int("n"), 42);
  EXPECT_DOUBLE_EQ(c.get_double("kl.t0"), 0.01);

  const auto bad = write_temp("bad.toml", "n = 42\n[kl\n");
  EXPECT_THAT(config_error([&] { c.merge_toml_file(bad); }), HasSubstr(bad.string() + ":2:"));
  std::filesystem::remove(path);
  std::filesystem::remove(bad);

  EXPECT_EQ(config_error([&] { c.merge_toml_file("/nonexistent/preset.toml"); }),
            "config file '/nonexistent/preset.toml' does not exist");
  EXPECT_THAT(config_error([&] { c.merge_toml_file(std::filesystem::temp_directory_path()); }),
              HasSubstr("is a folder"));
}

TEST(Config, AFifoConfigFileIsRefusedWithoutBlocking) {
  Config c(test_schema());
  const auto fifo =
      std::filesystem::temp_directory_path() / ("diffgen-config-fifo-" + std::to_string(::getpid()) + ".toml");
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string err = config_error([&] { c.merge_toml_file(fifo); });
  std::filesystem::remove(fifo);
  EXPECT_THAT(err, AllOf(HasSubstr(fifo.string()), HasSubstr("FIFO")));
  EXPECT_THAT(config_error([&] { c.merge_toml_file("/dev/zero"); }), HasSubstr("device"));
}

TEST(Config, TomlRoundTripIsExact) {
  Config c(test_schema());
  c.set("lr", "0.1");  // not exactly representable: must read back bit for bit
  c.set("kl.t0", "0.3333333333333333");
  c.set("seed", "-12");
  c.set("n", "1");
  c.set("kl.exact", "false");
  c.set("name", "quote \" backslash \\ tab \t newline \n σ");
  const std::string text = c.to_toml();

  Config back(test_schema());
  back.merge_toml_string(text, "config.toml");
  for (const auto& spec : c.schema().keys()) EXPECT_EQ(back.get(spec.key), c.get(spec.key)) << spec.key;
  EXPECT_EQ(back.to_toml(), text);

  // Whole-number doubles are written as TOML floats (1.0), large ones stay valid TOML.
  Schema s;
  s.add_double("a", 1.0, "").add_double("b", 1e20, "").add_double("c", 1e-300, "").add_double("d", -0.0, "");
  Config d(s);
  EXPECT_THAT(d.to_toml(), HasSubstr("\na = 1.0\n"));
  Config d_back(s);
  d_back.merge_toml_string(d.to_toml());
  for (const auto& spec : s.keys()) EXPECT_EQ(d_back.get(spec.key), d.get(spec.key)) << spec.key;
}

TEST(Config, TomlLayoutGroupsTablesAndComments) {
  Schema s;
  s.add_int("n", 100, "Training-set size.", 1)
      .add_double("kl.t0", 1e-3, "Earliest time.", 0.0, std::nullopt, true)
      .add_int("epochs", 10, "Epochs.\nSecond line.")
      .add_bool("kl.exact", true, "Exact divergence.");
  const std::string text = Config(s).to_toml();
  EXPECT_EQ(text,
            "# Training-set size.\n"
            "# [int: >= 1]\n"
            "n = 100\n"
            "\n"
            "# Epochs.\n"
            "# Second line.\n"
            "# [int]\n"
            "epochs = 10\n"
            "\n"
            "[kl]\n"
            "# Earliest time.\n"
            "# [double: > 0]\n"
            "t0 = 0.001\n"
            "\n"
            "# Exact divergence.\n"
            "# [bool: true, false]\n"
            "exact = true\n");
  EXPECT_THAT(text, Not(HasSubstr("kl.")));
}

TEST(Config, Describers) {
  const Schema s = test_schema();
  EXPECT_EQ(allowed_text(*s.find("n")), ">= 1");
  EXPECT_EQ(allowed_text(*s.find("lr")), "> 0");
  EXPECT_EQ(allowed_text(*s.find("hidden")), "in [1, 4096]");
  EXPECT_EQ(allowed_text(*s.find("optimizer")), "sgd, adam");
  EXPECT_EQ(allowed_text(*s.find("seed")), "");
  EXPECT_EQ(format_value(Value(1e-3)), "0.001");
  EXPECT_EQ(format_value(Value(2.0)), "2");
  EXPECT_EQ(format_value(Value(std::int64_t{7})), "7");
  EXPECT_EQ(type_name(ValueType::Double), "double");
}

TEST(ClosestNames, FindsTyposOnly) {
  const std::vector<std::string> names = {"early-stopping", "memorization", "kl-vs-n"};
  EXPECT_THAT(closest_names("early-stoping", names), ElementsAre("early-stopping"));
  EXPECT_THAT(closest_names("EARLY-STOPPING", names), ElementsAre("early-stopping"));
  EXPECT_TRUE(closest_names("banana", names).empty());
}

// ---- Lists ----

KeySpec list_key(std::string key, ValueType type, Value default_value, std::optional<double> min = std::nullopt,
                 std::optional<double> max = std::nullopt, std::vector<std::string> choices = {},
                 std::size_t min_items = 1, bool unique = true) {
  KeySpec spec;
  spec.key = std::move(key);
  spec.type = type;
  spec.default_value = std::move(default_value);
  spec.description = "a list";
  spec.min = min;
  spec.max = max;
  spec.choices = std::move(choices);
  spec.min_items = min_items;
  spec.unique = unique;
  return spec;
}

Schema list_schema() {
  Schema s;
  s.add(list_key("ns", ValueType::IntList, IntList{2, 4, 8}, 1.0));
  KeySpec ts = list_key("grid.ts", ValueType::DoubleList, DoubleList{0.1, 0.5}, 0.0, 1.0);
  ts.min_exclusive = true;
  s.add(ts);
  s.add(list_key("optimizers", ValueType::StringList, StringList{"sgd"}, std::nullopt, std::nullopt, {"sgd", "adam"}));
  s.add(list_key("labels", ValueType::StringList, StringList{"a"}, std::nullopt, std::nullopt, {}, 1, false));
  s.add(list_key("pair", ValueType::IntList, IntList{1, 2}, std::nullopt, std::nullopt, {}, 2));
  s.add_int("n", 100, "a scalar", 1);
  return s;
}

TEST(ConfigLists, SetAcceptsCommasAndTomlArrays) {
  Config c(list_schema());
  EXPECT_EQ(c.get_int_list("ns"), (IntList{2, 4, 8}));  // the default
  c.set("ns", "16,32,64");
  EXPECT_EQ(c.get_int_list("ns"), (IntList{16, 32, 64}));
  c.set("ns", "[2, 4, 8]");
  EXPECT_EQ(c.get_int_list("ns"), (IntList{2, 4, 8}));
  c.set("ns", " 3 , +5 ");
  EXPECT_EQ(c.get_int_list("ns"), (IntList{3, 5}));
  c.set("ns", "7");  // one item
  EXPECT_EQ(c.get_int_list("ns"), (IntList{7}));

  c.set("grid.ts", "0.25,1e-3");
  EXPECT_EQ(c.get_double_list("grid.ts"), (DoubleList{0.25, 1e-3}));
  c.set("grid.ts", "[0.75, 0.5]");
  EXPECT_EQ(c.get_double_list("grid.ts"), (DoubleList{0.75, 0.5}));
  c.set("grid.ts", "[1, 0.5]");  // a TOML integer is a valid double element
  EXPECT_EQ(c.get_double_list("grid.ts"), (DoubleList{1.0, 0.5}));

  c.set("optimizers", "adam, sgd");
  EXPECT_EQ(c.get_string_list("optimizers"), (StringList{"adam", "sgd"}));
  c.set("optimizers", "[\"sgd\", \"adam\"]");
  EXPECT_EQ(c.get_string_list("optimizers"), (StringList{"sgd", "adam"}));
  c.set("labels", "a b,c");  // spaces inside an item stay
  EXPECT_EQ(c.get_string_list("labels"), (StringList{"a b", "c"}));
  c.set_from_assignment("ns=1,2");
  EXPECT_EQ(c.get_int_list("ns"), (IntList{1, 2}));
  EXPECT_THAT(c.user_set_keys(), ElementsAre("ns", "grid.ts", "optimizers", "labels"));
}

TEST(ConfigLists, ItemsAreParsedAsTheElementType) {
  Config c(list_schema());
  EXPECT_EQ(config_error([&] { c.set("ns", "2,4.5"); }), "ns = '4.5' is not an integer");
  EXPECT_EQ(config_error([&] { c.set("grid.ts", "0.5,abc"); }), "grid.ts = 'abc' is not a number");
  EXPECT_EQ(config_error([&] { c.set("grid.ts", "0.5,nan"); }), "grid.ts = nan is not a finite number");
  EXPECT_THAT(config_error([&] { c.set("ns", "[2, \"a\"]"); }), HasSubstr("element 2 = 'a' is not a"));
  EXPECT_THAT(config_error([&] { c.set("ns", "[2, 4"); }), HasSubstr("ns = '[2, 4' is not a list"));
  EXPECT_EQ(c.get_int_list("ns"), (IntList{2, 4, 8}));
}

TEST(ConfigLists, AnIntListIsAcceptedForADoubleListKey) {
  Config c(list_schema());
  c.set_value("grid.ts", IntList{1});
  EXPECT_EQ(c.get_double_list("grid.ts"), (DoubleList{1.0}));
  c.merge_toml_string("[grid]\nts = [1, 0.25]\n", "a.toml");
  EXPECT_EQ(c.get_double_list("grid.ts"), (DoubleList{1.0, 0.25}));
  // Not the other way round.
  EXPECT_EQ(config_error([&] { c.set_value("ns", DoubleList{1.0}); }), "ns = [1] is not a list");
  EXPECT_THAT(config_error([&] { c.merge_toml_string("ns = [1.5]\n", "a.toml"); }),
              AllOf(HasSubstr("a.toml:1:"), HasSubstr("element 1 = 1.5")));
}

TEST(ConfigLists, TomlArrays) {
  Config c(list_schema());
  c.merge_toml_string("ns = [16, 32]\noptimizers = [\"adam\"]\npair = [5, 6, 7]\n[grid]\nts = [0.5]\n", "p.toml");
  EXPECT_EQ(c.get_int_list("ns"), (IntList{16, 32}));
  EXPECT_EQ(c.get_string_list("optimizers"), (StringList{"adam"}));
  EXPECT_EQ(c.get_int_list("pair"), (IntList{5, 6, 7}));
  EXPECT_EQ(c.get_double_list("grid.ts"), (DoubleList{0.5}));
  // A scalar for a list key, a list for a scalar key, an element out of range.
  EXPECT_EQ(config_error([&] { c.merge_toml_string("ns = 4\n", "p.toml"); }), "p.toml:1:6: ns = 4 is not a list");
  EXPECT_THAT(config_error([&] { c.merge_toml_string("n = [4]\n", "p.toml"); }),
              HasSubstr("n = [...] is not a single int value"));
  EXPECT_EQ(config_error([&] { c.merge_toml_string("ns = [4, 0]\n", "p.toml"); }),
            "p.toml:1:6: ns = [4, 0] has element 2 = 0, which is out of range: must be >= 1");
  // All or nothing.
  EXPECT_EQ(c.get_int_list("ns"), (IntList{16, 32}));
}

TEST(ConfigLists, EachElementIsRangeChecked) {
  Config c(list_schema());
  EXPECT_EQ(config_error([&] { c.set("ns", "2,0,8"); }),
            "ns = [2, 0, 8] has element 2 = 0, which is out of range: must be >= 1");
  EXPECT_EQ(config_error([&] { c.set("grid.ts", "0.5,0"); }),
            "grid.ts = [0.5, 0] has element 2 = 0, which is out of range: must be in (0, 1]");
  EXPECT_EQ(config_error([&] { c.set("grid.ts", "[1.5]"); }),
            "grid.ts = [1.5] has element 1 = 1.5, which is out of range: must be in (0, 1]");
  EXPECT_EQ(config_error([&] { c.set("optimizers", "sgd,adamw"); }),
            "optimizers = [sgd, adamw] has element 2 = adamw, which is not allowed (allowed: sgd, adam)");
  c.set("grid.ts", "1");  // the closed end
  EXPECT_EQ(c.get_double_list("grid.ts"), (DoubleList{1.0}));
}

TEST(ConfigLists, RepeatsAreRefusedWhenUnique) {
  Config c(list_schema());
  EXPECT_EQ(config_error([&] { c.set("ns", "2,4,2"); }), "ns = [2, 4, 2] lists 2 twice");
  EXPECT_EQ(config_error([&] { c.set("grid.ts", "0.5, 0.5"); }), "grid.ts = [0.5, 0.5] lists 0.5 twice");
  EXPECT_EQ(config_error([&] { c.set("optimizers", "[\"sgd\", \"sgd\"]"); }),
            "optimizers = [sgd, sgd] lists sgd twice");
  c.set("labels", "a,a");  // not unique: allowed
  EXPECT_EQ(c.get_string_list("labels"), (StringList{"a", "a"}));
}

TEST(ConfigLists, EmptyItemsAndTooFewItemsAreRefused) {
  Config c(list_schema());
  for (const char* text : {"2,,8", "2,4,", ",2", " , "})
    EXPECT_THAT(config_error([&] { c.set("ns", text); }), HasSubstr("has an empty item")) << text;
  EXPECT_EQ(config_error([&] { c.set("ns", ""); }), "ns = [] has 0 elements: give at least 1");
  EXPECT_EQ(config_error([&] { c.set("ns", "[]"); }), "ns = [] has 0 elements: give at least 1");
  EXPECT_EQ(config_error([&] { c.set("pair", "3"); }), "pair = [3] has 1 element: give at least 2");
  EXPECT_EQ(config_error([&] { c.merge_toml_string("labels = []\n", "p.toml"); }),
            "p.toml:1:10: labels = [] has 0 elements: give at least 1");
  EXPECT_EQ(c.get_int_list("ns"), (IntList{2, 4, 8}));
}

TEST(ConfigLists, FormatValueAndAllowedText) {
  EXPECT_EQ(format_value(Value(IntList{2, 4, 8})), "[2, 4, 8]");
  EXPECT_EQ(format_value(Value(DoubleList{0.1, 1e-10, 2.0})), "[0.1, 1e-10, 2]");
  EXPECT_EQ(format_value(Value(StringList{"sgd", "a b"})), "[sgd, a b]");
  EXPECT_EQ(format_value(Value(IntList{})), "[]");
  const Schema s = list_schema();
  EXPECT_EQ(allowed_text(*s.find("ns")), "each >= 1, no repeats");
  EXPECT_EQ(allowed_text(*s.find("grid.ts")), "each in (0, 1], no repeats");
  EXPECT_EQ(allowed_text(*s.find("optimizers")), "each sgd, adam, no repeats");
  EXPECT_EQ(allowed_text(*s.find("labels")), "");
  EXPECT_EQ(allowed_text(*s.find("pair")), "at least 2 items, no repeats");
  EXPECT_EQ(type_name(ValueType::IntList), "list of int");
  EXPECT_EQ(type_name(ValueType::DoubleList), "list of double");
  EXPECT_EQ(type_name(ValueType::StringList), "list of string");
  EXPECT_TRUE(is_list(ValueType::StringList));
  EXPECT_FALSE(is_list(ValueType::String));
  EXPECT_EQ(element_type(ValueType::DoubleList), ValueType::Double);
}

TEST(ConfigLists, ListDefaultsAreCheckedByTheSchema) {
  EXPECT_THROW(Schema().add(list_key("ns", ValueType::IntList, IntList{0}, 1.0)), std::invalid_argument);
  EXPECT_THROW(Schema().add(list_key("ns", ValueType::IntList, IntList{1, 1})), std::invalid_argument);
  EXPECT_THROW(Schema().add(list_key("ns", ValueType::IntList, IntList{})), std::invalid_argument);
  EXPECT_THROW(Schema().add(list_key("ns", ValueType::IntList, DoubleList{1.0})), std::invalid_argument);
  EXPECT_THROW(Schema().add(list_key("ns", ValueType::IntList, IntList{1}, std::nullopt, std::nullopt, {"a"})),
               std::invalid_argument);  // choices on a number list
}

TEST(ConfigLists, TomlWritesArraysThatReadBackToTheSameValues) {
  Config c(list_schema());
  c.set("ns", "16,32");
  c.set("grid.ts", "0.1, 1, 0.3333333333333333");
  c.set("optimizers", "adam,sgd");
  c.set("labels", "quote \", comma");  // an item with a quote
  const std::string text = c.to_toml();
  EXPECT_THAT(text, HasSubstr("\nns = [16, 32]\n"));
  EXPECT_THAT(text, HasSubstr("\nts = [0.1, 1.0, 0.3333333333333333]\n"));  // 1 written as a TOML float
  EXPECT_THAT(text, HasSubstr("\noptimizers = [\"adam\", \"sgd\"]\n"));
  EXPECT_THAT(text, HasSubstr("# [list of int: each >= 1, no repeats]\n"));
  Config back(list_schema());
  back.merge_toml_string(text, "config.toml");
  for (const auto& spec : c.schema().keys()) EXPECT_EQ(back.get(spec.key), c.get(spec.key)) << spec.key;
  EXPECT_EQ(back.to_toml(), text);
}

// ---- Renamed keys ----

TEST(ConfigRenamed, SettingAnOldKeyNamesTheNewOne) {
  Schema s;
  s.add_int("train.epochs", 10, "epochs", 0).add_double("train.lr", 0.1, "lr", 0.0);
  s.add_renamed("epochs", "train.epochs").add_renamed("trained.lr", "train.lr");
  ASSERT_NE(s.renamed_to("epochs"), nullptr);
  EXPECT_EQ(*s.renamed_to("epochs"), "train.epochs");
  EXPECT_EQ(s.renamed_to("train.epochs"), nullptr);
  Config c(s);
  EXPECT_EQ(config_error([&] { c.set("epochs", "5"); }), "key 'epochs' was renamed to 'train.epochs'");
  EXPECT_EQ(config_error([&] { c.set_from_assignment("trained.lr=0.5"); }),
            "key 'trained.lr' was renamed to 'train.lr'");
  // In a TOML file, the message also names where.
  EXPECT_EQ(config_error([&] { c.merge_toml_string("epochs = 5\n", "old.toml"); }),
            "old.toml:1:10: key 'epochs' was renamed to 'train.epochs'");
  EXPECT_EQ(config_error([&] { c.merge_toml_string("[trained]\nlr = 0.5\n", "old.toml"); }),
            "old.toml:2:6: key 'trained.lr' was renamed to 'train.lr'");
  const auto file = write_temp("renamed.toml", "train.lr = 0.2\nepochs = 5\n");
  EXPECT_THAT(config_error([&] { c.merge_toml_file(file); }),
              AllOf(HasSubstr(file.string() + ":2:"), HasSubstr("renamed to 'train.epochs'")));
  std::filesystem::remove(file);
  EXPECT_EQ(c.get_int("train.epochs"), 10);
  EXPECT_EQ(c.get_double("train.lr"), 0.1);  // all or nothing
}

TEST(ConfigRenamed, SeveralNewNamesNameTheFirstDeclaredOne) {
  Schema both;
  both.add_int("data.n", 100, "").add_int("model.n", 3, "");
  both.add_renamed("n", "data.n").add_renamed("n", "model.n");
  EXPECT_EQ(config_error([&] { Config(both).set("n", "5"); }), "key 'n' was renamed to 'data.n'");
  // Only the second new name in this schema: that one is named.
  Schema second;
  second.add_int("model.n", 3, "");
  second.add_renamed("n", "data.n").add_renamed("n", "model.n");
  EXPECT_EQ(config_error([&] { Config(second).set("n", "5"); }), "key 'n' was renamed to 'model.n'");
  // A new name that is not declared is ignored: the old key is then just unknown.
  Schema none;
  none.add_int("epochs_total", 3, "");
  none.add_renamed("n", "data.n");
  EXPECT_EQ(none.renamed_to("n"), nullptr);
  EXPECT_THAT(config_error([&] { Config(none).set("n", "5"); }), HasSubstr("unknown key 'n'"));
  // Renaming a key that is still declared is a schema bug.
  EXPECT_THROW(Schema().add_int("n", 1, "").add_renamed("n", "data.n"), std::invalid_argument);
}

}  // namespace
}  // namespace diffgen
