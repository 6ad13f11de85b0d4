// diffgen's error types. Each carries the process exit code of DESIGN.md so
// the command line can map any failure to its documented code.
#pragma once

#include <stdexcept>
#include <string>

namespace diffgen {

class Error : public std::runtime_error {
 public:
  Error(const std::string& what, int exit_code) : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// Bad usage or configuration: the message names the key, the value and what is allowed.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& what) : Error(what, 2) {}
};

// A bad or missing data file: the message names the file and where it went wrong.
class DataError : public Error {
 public:
  explicit DataError(const std::string& what) : Error(what, 3) {}
};

// NaN, Inf or divergence: the message names where it happened.
class NumericalError : public Error {
 public:
  explicit NumericalError(const std::string& what) : Error(what, 4) {}
};

}  // namespace diffgen
