#include "core/io.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

class IoTest : public ::testing::Test {
 protected:
  void TearDown() override { fs::remove_all(dir_); }

  static std::string read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  // Files in the folder, so a leftover temporary file would be noticed.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  TempDir temp_;
  const fs::path& dir_ = temp_.path();
};

TEST_F(IoTest, AtomicWriteReplacesAndLeavesNoTemporaryFile) {
  const fs::path path = dir_ / "out.txt";
  write_file_atomic(path, "first");
  write_file_atomic(path, "second, longer contents");
  EXPECT_EQ(read(path), "second, longer contents");
  EXPECT_EQ(listing(), std::vector<std::string>{"out.txt"});
}

TEST_F(IoTest, AtomicWriteCreatesParentFolders) {
  const fs::path path = dir_ / "plots" / "deep" / "a.txt";
  write_file_atomic(path, "x");
  EXPECT_EQ(read(path), "x");
}

TEST_F(IoTest, ReadTextFileReturnsTheBytesAndNamesAMissingFile) {
  const fs::path path = dir_ / "bytes.bin";
  const std::string bytes("a\0b\r\nc", 6);
  write_file_atomic(path, bytes);
  EXPECT_EQ(read_text_file(path), bytes);
  try {
    read_text_file(dir_ / "absent.txt");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("absent.txt"), std::string::npos);
  }
}

// The message of the DataError that reading `path` throws ("" if none).
std::string read_error(const fs::path& path, std::uint64_t max_bytes = std::uint64_t{1} << 30) {
  try {
    read_input_file(path, max_bytes);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

TEST_F(IoTest, AFifoIsRefusedWithoutBlocking) {
  // Opening a FIFO for reading blocks until a writer comes: the test would hang.
  const fs::path fifo = dir_ / "points.csv";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(read_error(fifo), AllOf(HasSubstr("points.csv"), HasSubstr("FIFO")));
  EXPECT_THAT(read_error(fifo), HasSubstr("not a regular file"));
}

TEST_F(IoTest, DevicesAreRefusedAlsoThroughASymlink) {
  // /dev/zero never ends: reading it whole would fill the memory.
  for (const char* device : {"/dev/zero", "/dev/urandom"}) {
    const fs::path link = dir_ / (std::string("x") + std::to_string(listing().size()) + ".npy");
    fs::create_symlink(device, link);
    EXPECT_THAT(read_error(link), AllOf(HasSubstr(link.string()), HasSubstr("device"))) << device;
  }
  EXPECT_THAT(read_error("/dev/zero"), HasSubstr("device"));
  EXPECT_THAT(read_error(dir_), HasSubstr("folder"));
}

TEST_F(IoTest, FilesAreReadWithASizeLimit) {
  const fs::path path = dir_ / "big.toml";
  write_file_atomic(path, std::string(2048, 'x'));
  EXPECT_THAT(read_error(path, 1024), AllOf(HasSubstr("big.toml"), HasSubstr("2 KiB"), HasSubstr("1 KiB")));
  EXPECT_EQ(read_input_file(path, 2048).size(), 2048u);
}

TEST_F(IoTest, AtomicWriteFailureIsADataErrorAndKeepsTheOldFile) {
  const fs::path path = dir_ / "keep.txt";
  write_file_atomic(path, "old");
  // A folder where the file should go cannot be replaced by a file.
  fs::create_directory(dir_ / "taken");
  try {
    write_file_atomic(dir_ / "taken", "new");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_EQ(e.exit_code(), 3);
    EXPECT_THAT(e.what(), HasSubstr("taken"));
  }
  EXPECT_EQ(read(path), "old");
  EXPECT_EQ(listing(), (std::vector<std::string>{"keep.txt", "taken"}));
  // An unwritable folder (skipped as root, who may write anywhere).
  if (::geteuid() != 0) {
    fs::create_directory(dir_ / "ro");
    fs::permissions(dir_ / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_THROW(write_file_atomic(dir_ / "ro" / "x.txt", "x"), DataError);
    fs::permissions(dir_ / "ro", fs::perms::owner_all);
  }
}

TEST(FormatDouble, RoundTrips) {
  for (double x : {0.1, 1.0 / 3.0, 1e-300, 6.02214076e23, -2.5, 123456789.125, 5e-324}) {
    EXPECT_EQ(std::strtod(format_double(x).c_str(), nullptr), x) << format_double(x);
  }
  EXPECT_EQ(format_double(0.1), "0.1");
  EXPECT_EQ(format_double(1e-10), "1e-10");
}

TEST(CsvTable, WritesTidyRowsWithExactNumbers) {
  CsvTable t({"seed", "epoch", "kl", "optimizer"});
  t.add_row({0, 100, 0.1, "adam"});
  t.add_row({std::size_t{1}, std::int64_t{-2}, 1.0 / 3.0, std::string("s,g\"d")});
  t.add_row({2u, 3, 1e-20, CsvCell::missing()});
  t.add_row({short{4}, 'A', 0.5f, true});
  EXPECT_EQ(t.num_rows(), 4u);
  EXPECT_EQ(t.to_string(),
            "seed,epoch,kl,optimizer\n"
            "0,100,0.1,adam\n"
            "1,-2,0.3333333333333333,\"s,g\"\"d\"\n"
            "2,3,1e-20,\n"
            "4,65,0.5,true\n");
  EXPECT_EQ(std::strtod(t.cell(1, 2).text().c_str(), nullptr), 1.0 / 3.0);
}

TEST(CsvTable, RefusesNonFiniteNumbersNamingColumnAndRow) {
  CsvTable t({"seed", "epoch", "kl"});
  t.add_row({0, 100, 0.5});
  try {
    t.add_row({0, 200, kNaN});
    FAIL() << "expected NumericalError";
  } catch (const NumericalError& e) {
    EXPECT_EQ(e.exit_code(), 4);
    EXPECT_THAT(e.what(),
                AllOf(HasSubstr("column 'kl'"), HasSubstr("row 2"), HasSubstr("epoch=200"), HasSubstr("nan")));
  }
  EXPECT_THROW(t.add_row({0, 300, -kInf}), NumericalError);
  // The failed rows were not added: what came before can still be written.
  EXPECT_EQ(t.num_rows(), 1u);
}

TEST(CsvTable, MissingValuesWhenTheCallerSaysSo) {
  CsvTable t({"epoch", "kl", "nll"});
  t.allow_missing("nll");
  t.add_row({1, CsvCell::finite_or_missing(kInf), kNaN});
  t.add_row({2, CsvCell::finite_or_missing(0.25), 1.5});
  EXPECT_EQ(t.to_string(), "epoch,kl,nll\n1,,\n2,0.25,1.5\n");
  EXPECT_TRUE(t.cell(0, 1).is_missing());
}

TEST(CsvTable, RejectsMisuse) {
  EXPECT_THROW(CsvTable({"a", "a"}), std::invalid_argument);
  CsvTable t({"a", "b"});
  EXPECT_THROW(t.add_row({1}), std::invalid_argument);
  EXPECT_THROW(t.allow_missing("c"), std::invalid_argument);
}

TEST_F(IoTest, CsvWriteIsAtomic) {
  CsvTable t({"x"});
  t.add_row({1.5});
  t.write(dir_ / "metrics.csv");
  EXPECT_EQ(read(dir_ / "metrics.csv"), "x\n1.5\n");
}

TEST_F(IoTest, JsonIsPrettyAndExact) {
  nlohmann::json j = {{"kl", 0.1}, {"n", 3}, {"name", "adam"}, {"missing", nullptr}};
  write_json_atomic(dir_ / "summary.json", j);
  const std::string text = read(dir_ / "summary.json");
  EXPECT_THAT(text, HasSubstr("\n  \"kl\": 0.1"));
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(nlohmann::json::parse(text), j);
}

TEST_F(IoTest, JsonRefusesNonFiniteNamingThePointer) {
  nlohmann::json j;
  j["seeds"] = nlohmann::json::array({{{"kl", 0.5}}, {{"kl", kNaN}}});
  try {
    write_json_atomic(dir_ / "summary.json", j);
    FAIL() << "expected NumericalError";
  } catch (const NumericalError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("/seeds/1/kl"), HasSubstr("summary.json")));
  }
  EXPECT_FALSE(fs::exists(dir_ / "summary.json"));
  EXPECT_THROW(to_json_text(nlohmann::json(kInf)), NumericalError);
}

}  // namespace
}  // namespace diffgen
