// A fresh, empty folder for one test under the system's temporary
// directory, named after the running test, and removed with everything in
// it when the object goes away (also when the test fails).
#pragma once

#include <filesystem>
#include <string_view>

namespace diffgen {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace diffgen
