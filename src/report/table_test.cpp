#include "report/table.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>

namespace diffgen {
namespace {

TEST(FormatSignificant, UsesSignificantDigits) {
  EXPECT_EQ(format_significant(0.0123456), "0.01235");
  EXPECT_EQ(format_significant(1.23456e-5), "1.235e-05");
  EXPECT_EQ(format_significant(1234.0), "1234");
  EXPECT_EQ(format_significant(3.14159, 2), "3.1");
  EXPECT_EQ(format_significant(std::numeric_limits<double>::quiet_NaN()), "-");
  EXPECT_EQ(format_significant(std::numeric_limits<double>::infinity()), "inf");
}

TEST(Table, AlignsNumbersRightAndTextLeft) {
  Table t({"seed", "optimizer", "kl"});
  t.add_row({0, "adam", 0.0123456});
  t.add_row({12, "sgd", 1.5});
  EXPECT_EQ(t.to_text(),
            "seed  optimizer       kl\n"
            "----  ---------  -------\n"
            "   0  adam       0.01235\n"
            "  12  sgd            1.5\n");
}

TEST(Table, CountsUnicodeAsOneColumn) {
  Table t({"σ", "τ*"});
  t.add_row({25, 0.5});
  EXPECT_EQ(t.to_text(),
            " σ   τ*\n"
            "--  ---\n"
            "25  0.5\n");
  EXPECT_EQ(display_width("στ"), 2u);
}

TEST(Table, ExplicitAlignmentOverridesAuto) {
  Table t({"name", "value"});
  t.add_row({"a", 1});
  t.set_align(1, Align::Left);
  t.set_align(0, Align::Right);
  EXPECT_EQ(t.to_text(),
            "name  value\n"
            "----  -----\n"
            "   a  1\n");
}

TEST(Table, Markdown) {
  Table t({"seed", "note", "kl"}, 3);
  t.add_row({0, "a|b", 0.012345});
  t.add_row({1, "", 2.0});
  EXPECT_EQ(t.to_markdown(),
            "| seed | note |     kl |\n"
            "| ---: | ---- | -----: |\n"
            "|    0 | a\\|b | 0.0123 |\n"
            "|    1 |      |      2 |\n");
}

TEST(Table, RejectsRowsOfTheWrongLength) {
  Table t({"a", "b"});
  EXPECT_THROW(t.add_row({1}), std::invalid_argument);
  EXPECT_THROW(Table({}), std::invalid_argument);
}

}  // namespace
}  // namespace diffgen
