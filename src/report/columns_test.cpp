#include "report/columns.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>

#include "core/error.hpp"
#include "core/types.hpp"

namespace diffgen {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Row {
  Index epoch = 0;
  double kl = 0.0;
  double loss = 0.0;
  std::string optimizer;
};

// epoch, kl (a number, missing where not finite), loss (never missing), optimizer.
Columns<Row> row_columns() {
  Columns<Row> c;
  c.add("epoch", [](const Row& r) { return CsvCell(r.epoch); })
      .number("kl", &Row::kl)
      .add(
          "loss", [](const Row& r) { return CsvCell(r.loss); }, /*missing_allowed=*/false)
      .add("optimizer", [](const Row& r) { return CsvCell(r.optimizer); });
  return c;
}

TEST(Columns, NamesInDeclarationOrder) {
  EXPECT_THAT(row_columns().names(), ElementsAre("epoch", "kl", "loss", "optimizer"));
  EXPECT_THAT(row_columns().table().columns(), ElementsAre("epoch", "kl", "loss", "optimizer"));
  // Leading columns come first.
  EXPECT_THAT(row_columns().table({"variant", "seed"}).columns(),
              ElementsAre("variant", "seed", "epoch", "kl", "loss", "optimizer"));
}

TEST(Columns, RowsAfterTheLeadingCells) {
  const auto columns = row_columns();
  CsvTable t = columns.table({"seed"});
  columns.add_row(t, {0}, Row{10, 0.5, 0.25, "adam"});
  columns.add_row(t, {1}, Row{20, 1e-10, 2.0, "sgd"});
  EXPECT_EQ(t.to_string(),
            "seed,epoch,kl,loss,optimizer\n"
            "0,10,0.5,0.25,adam\n"
            "1,20,1e-10,2,sgd\n");
}

TEST(Columns, NonFiniteIsMissingWhereAllowed) {
  const auto columns = row_columns();
  CsvTable t = columns.table();
  columns.add_row(t, {}, Row{0, kNaN, 1.5, "adam"});
  columns.add_row(t, {}, Row{1, kInf, 1.5, "adam"});
  EXPECT_EQ(t.to_string(), "epoch,kl,loss,optimizer\n0,,1.5,adam\n1,,1.5,adam\n");
  EXPECT_TRUE(t.cell(0, 1).is_missing());

  // add() allows missing values unless told otherwise: a raw NaN cell is written empty.
  Columns<Row> raw;
  raw.add("kl", [](const Row& r) { return CsvCell(r.kl); });
  CsvTable r = raw.table();
  raw.add_row(r, {}, Row{0, kNaN, 0.0, ""});
  EXPECT_EQ(r.to_string(), "kl\n\n");
}

TEST(Columns, NonFiniteInAColumnThatRefusesItNamesTheColumn) {
  const auto columns = row_columns();
  CsvTable t = columns.table({"seed"});
  columns.add_row(t, {3}, Row{0, 0.5, 1.0, "adam"});
  try {
    columns.add_row(t, {3}, Row{7, 0.5, kNaN, "adam"});
    ADD_FAILURE() << "no NumericalError";
  } catch (const NumericalError& e) {
    EXPECT_THAT(std::string(e.what()),
                AllOf(HasSubstr("column 'loss'"), HasSubstr("row 2"), HasSubstr("seed=3"), HasSubstr("epoch=7")));
  }
  // The table is unchanged: the rows before can still be written.
  EXPECT_EQ(t.num_rows(), 1u);
  EXPECT_THROW(columns.add_row(t, {3}, Row{8, 0.5, -kInf, "adam"}), NumericalError);
}

TEST(Columns, LeadingCellsThatDoNotFitAreABug) {
  const auto columns = row_columns();
  CsvTable t = columns.table({"seed"});
  EXPECT_THROW(columns.add_row(t, {}, Row{}), std::invalid_argument);
  // A leading name equal to a column's is refused too.
  EXPECT_THROW(columns.table({"kl"}), std::invalid_argument);
}

}  // namespace
}  // namespace diffgen
