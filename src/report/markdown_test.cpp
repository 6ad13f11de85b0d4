#include "report/markdown.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace diffgen {
namespace {

TEST(MarkdownReport, BuildsBlocksSeparatedByBlankLines) {
  Table t({"n", "kl"});
  t.add_row({10, 0.5});
  MarkdownReport r;
  r.heading("Early stopping")
      .paragraph("Trained on n = 10 points.")
      .heading("Results", 2)
      .table(t)
      .image("KL over epochs", "plots/kl.png", "KL to the target.")
      .bullets({"one", "two"})
      .code("diffgen run early-stopping", "sh");
  EXPECT_EQ(r.text(),
            "# Early stopping\n"
            "\n"
            "Trained on n = 10 points.\n"
            "\n"
            "## Results\n"
            "\n"
            "|   n |  kl |\n"
            "| --: | --: |\n"
            "|  10 | 0.5 |\n"
            "\n"
            "![KL over epochs](plots/kl.png)\n"
            "\n"
            "*KL to the target.*\n"
            "\n"
            "- one\n"
            "- two\n"
            "\n"
            "```sh\n"
            "diffgen run early-stopping\n"
            "```\n");
}

TEST(MarkdownReport, EscapesPathsAndFences) {
  MarkdownReport r;
  r.image("a [b]", "my plots/x.png").code("a ``` b");
  EXPECT_EQ(r.text(),
            "![a (b)](<my plots/x.png>)\n"
            "\n"
            "````\n"
            "a ``` b\n"
            "````\n");
  EXPECT_EQ(MarkdownReport().heading("x", 9).text(), "###### x\n");
}

TEST(MarkdownReport, WritesTheFile) {
  const auto path = std::filesystem::temp_directory_path() / "diffgen_markdown_test" / "report.md";
  MarkdownReport r;
  r.heading("Title");
  r.write(path);
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "# Title\n");
  std::filesystem::remove_all(path.parent_path());
}

}  // namespace
}  // namespace diffgen
