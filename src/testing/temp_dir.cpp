// Tested by known_problems_test.cpp.
#include "testing/temp_dir.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <stdexcept>
#include <string>

namespace diffgen {

TempDir::TempDir() {
  std::string name = "diffgen";
  if (const auto* test = ::testing::UnitTest::GetInstance()->current_test_info())
    name += std::string("-") + test->test_suite_name() + "-" + test->name();
  for (char& c : name)
    if (c == '/') c = '-';  // parameterized tests
  std::string pattern = (std::filesystem::temp_directory_path() / (name + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create a folder like " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace diffgen
