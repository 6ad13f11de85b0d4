// The output folder of a run or sweep as a resource one diffgen process owns:
// an advisory lock held for the whole run, the refusal to write over another
// run's files unless told to (--force), and the record of the input files a
// resume must find unchanged.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "core/config.hpp"

namespace diffgen::cli {

// An exclusive flock(2) on DIR/.diffgen.lock, held while the object lives.
// The kernel releases it when the process ends, even by kill -9, so a stale
// lock never needs cleaning. Throws ConfigError (exit 2) naming the folder and
// the holder's pid when another process holds it.
class FolderLock {
 public:
  explicit FolderLock(const std::filesystem::path& dir);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  FolderLock(FolderLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

  static constexpr const char* kFileName = ".diffgen.lock";

 private:
  int fd_ = -1;
};

// What an output folder holds, looked at with its lock held.
enum class FolderContents { Empty, DiffgenRun, Other };
FolderContents classify_folder(const std::filesystem::path& dir);

// Removes everything in `dir` but its lock file (run --force into a run's folder).
void clear_folder(const std::filesystem::path& dir);

// 64-bit FNV-1a of a file's bytes, as 16 hex digits; DataError when unreadable.
std::string file_hash(const std::filesystem::path& file);

// An input file a configuration names: its absolute path and content hash.
struct InputFile {
  std::string path;
  std::string hash;
};
// Every non-empty string key naming a file (its name ends in "file": data.file)
// in `config`, with the file's absolute path and hash.
std::map<std::string, InputFile> input_files(const Config& config);
// ConfigError (exit 2) naming the key and file when a recorded input is
// missing, moved or changed since the run started.
void check_inputs_unchanged(const std::filesystem::path& dir, const std::map<std::string, InputFile>& recorded,
                            const Config& config);

}  // namespace diffgen::cli
