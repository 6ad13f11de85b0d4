// Locking, checking and clearing output folders, and the input-file record of
// a resume (cli/out_folder.hpp).
// Tested by tests/out_folder_test.cpp.
#include "cli/out_folder.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <system_error>

#include "core/error.hpp"

namespace diffgen::cli {
namespace fs = std::filesystem;

namespace {

// The pid the lock's holder wrote into the file, or "unknown".
std::string holder_pid(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string text = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text.empty() ? "unknown" : text;
}

}  // namespace

FolderLock::FolderLock(const fs::path& dir) {
  const fs::path file = dir / kFileName;
  // O_CLOEXEC: a child (gnuplot) must not inherit the lock and keep it after we die.
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw ConfigError(fmt::format("cannot lock output folder '{}': {}", dir.string(), std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string pid = holder_pid(fd_);
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw ConfigError(fmt::format("'{}' is in use by another diffgen run (pid {})", dir.string(), pid));
    throw ConfigError(fmt::format("cannot lock output folder '{}': {}", dir.string(), std::strerror(err)));
  }
  // The pid is only for the message of a second run; the flock is the lock.
  const std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const ssize_t n = ::pwrite(fd_, pid.data(), pid.size(), 0);
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

FolderContents classify_folder(const fs::path& dir) {
  std::error_code ec;
  bool any = false;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename() == FolderLock::kFileName) continue;
    any = true;
    break;
  }
  if (!any) return FolderContents::Empty;
  // A run writes run.json and config.toml first, before any other file.
  if (fs::is_regular_file(dir / "run.json", ec) && fs::is_regular_file(dir / "config.toml", ec))
    return FolderContents::DiffgenRun;
  return FolderContents::Other;
}

void clear_folder(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().filename() != FolderLock::kFileName) entries.push_back(entry.path());
  for (const auto& path : entries) {
    fs::remove_all(path, ec);
    if (ec) throw ConfigError(fmt::format("cannot clear '{}' (--force): {}", path.string(), ec.message()));
  }
}

std::string file_hash(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DataError(fmt::format("cannot read '{}' to hash it", file.string()));
  std::uint64_t h = 14695981039346656037ULL;  // FNV-1a offset basis
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buf[i]);
      h *= 1099511628211ULL;  // FNV prime
    }
  }
  return fmt::format("{:016x}", h);
}

std::map<std::string, InputFile> input_files(const Config& config) {
  std::map<std::string, InputFile> files;
  for (const auto& spec : config.schema().keys()) {
    const bool names_file = spec.key.size() >= 4 && spec.key.compare(spec.key.size() - 4, 4, "file") == 0;
    if (spec.type != ValueType::String || !names_file) continue;
    const std::string& value = config.get_string(spec.key);
    if (value.empty()) continue;
    std::error_code ec;
    const fs::path absolute = fs::absolute(value, ec);
    const std::string path = ec ? value : absolute.lexically_normal().string();
    files[spec.key] = {path, fs::is_regular_file(path, ec) ? file_hash(path) : ""};
  }
  return files;
}

void check_inputs_unchanged(const fs::path& dir, const std::map<std::string, InputFile>& recorded,
                            const Config& config) {
  const auto now = input_files(config);
  for (const auto& [key, then] : recorded) {
    const auto it = now.find(key);
    const std::string path = it == now.end() ? std::string("(none)") : it->second.path;
    if (it == now.end() || path != then.path)
      throw ConfigError(fmt::format("cannot resume '{}': {} named '{}' when the run started but names '{}' now "
                                    "(resume from the folder the run was started in)",
                                    dir.string(), key, then.path, path));
    if (it->second.hash.empty())
      throw ConfigError(fmt::format("cannot resume '{}': {} = '{}' is missing (the run started from it)",
                                    dir.string(), key, then.path));
    if (it->second.hash != then.hash)
      throw ConfigError(fmt::format("cannot resume '{}': {} = '{}' changed since the run started (hash {} then, {} "
                                    "now); its results would match neither file; start a new run with --out",
                                    dir.string(), key, then.path, then.hash, it->second.hash));
  }
}

}  // namespace diffgen::cli
