#include "training/checkpoint.hpp"

#include <fmt/format.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>

#include "core/error.hpp"
#include "core/io.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;

constexpr std::array<char, 8> kMagic{'D', 'G', 'C', 'K', 'P', 'T', '\r', '\n'};
constexpr std::size_t kHeaderBytes = 8 + 4 + 4 + 8;  // magic, version, reserved, payload size
constexpr std::size_t kChecksumBytes = 8;

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Little-endian appends, independent of the host's byte order.
class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  // The bit pattern, so NaN (the loss at epoch 0) and every double read back exactly.
  void f64(double v) { u64(std::bit_cast<std::uint64_t>(v)); }
  void text(std::string_view s) {
    u64(s.size());
    out_.append(s);
  }
  void vector(const Vector& v) {
    u64(static_cast<std::uint64_t>(v.size()));
    for (Index i = 0; i < v.size(); ++i) f64(v[i]);
  }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

// Bounds-checked reads; every failure names the file and the offset.
class Reader {
 public:
  Reader(std::string_view bytes, const std::string& name, std::size_t base) : bytes_(bytes), name_(name), base_(base) {}

  std::uint8_t u8() {
    need(1, "a byte");
    return static_cast<std::uint8_t>(bytes_[pos_++]);
  }
  std::uint32_t u32() {
    need(4, "a 32-bit integer");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes_[pos_++])) << (8 * i);
    return v;
  }
  std::uint64_t u64() {
    need(8, "a 64-bit integer");
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes_[pos_++])) << (8 * i);
    return v;
  }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  double f64() { return std::bit_cast<double>(u64()); }
  std::string text(const char* what) {
    const std::uint64_t n = count(1, what);
    std::string s(bytes_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  Vector vector(const char* what) {
    const std::uint64_t n = count(8, what);
    Vector v(static_cast<Index>(n));
    for (Index i = 0; i < v.size(); ++i) v[i] = f64();
    return v;
  }
  // A count of items of `item_bytes` each, checked against what is left
  // before anything is allocated for them.
  std::uint64_t count(std::size_t item_bytes, const char* what) {
    const std::uint64_t n = u64();
    if (n > (bytes_.size() - pos_) / item_bytes)
      fail(fmt::format("{} claims {} items but only {} bytes are left", what, n, bytes_.size() - pos_));
    return n;
  }
  std::size_t left() const { return bytes_.size() - pos_; }
  [[noreturn]] void fail(const std::string& what) const {
    throw DataError(fmt::format("checkpoint '{}' is corrupt: {} (at byte {})", name_, what, base_ + pos_));
  }

 private:
  void need(std::size_t n, const char* what) {
    if (bytes_.size() - pos_ < n) fail(fmt::format("it ends where {} was expected", what));
  }
  std::string_view bytes_;
  const std::string& name_;
  std::size_t base_;  // offset of bytes_ in the file, for messages
  std::size_t pos_ = 0;
};

// Contents that a valid checksum cannot vouch for: a file written by a bug
// or by hand must still not be trained on.
void check_consistent(const StudyCheckpoint& c, const std::string& name) {
  const auto bad = [&](const std::string& what) {
    throw DataError(fmt::format("checkpoint '{}' is inconsistent: {}", name, what));
  };
  if (c.config_fingerprint != config_fingerprint(c.config_toml))
    bad("the configuration fingerprint does not match the stored configuration");
  if (c.seeds < 1) bad(fmt::format("seed count {} (must be >= 1)", c.seeds));
  if (c.seed_index < 0 || c.seed_index >= c.seeds) bad(fmt::format("seed {} outside 0..{}", c.seed_index, c.seeds - 1));
  if (c.trainer.epoch < 0 || c.trainer.steps < 0)
    bad(fmt::format("epoch {} and steps {} must be >= 0", c.trainer.epoch, c.trainer.steps));
  if (static_cast<Index>(c.rows.size()) != c.trainer.epoch + 1)
    bad(fmt::format("{} rows for epoch {} (expected one per epoch 0..{})", c.rows.size(), c.trainer.epoch,
                    c.trainer.epoch));
  for (std::size_t i = 0; i < c.rows.size(); ++i) {
    if (c.rows[i].epoch != static_cast<Index>(i)) bad(fmt::format("row {} is for epoch {}", i, c.rows[i].epoch));
    if (c.rows[i].steps < (i > 0 ? c.rows[i - 1].steps : 0))
      bad(fmt::format("steps decrease at epoch {}", c.rows[i].epoch));
  }
  if (c.rows.back().steps != c.trainer.steps)
    bad(fmt::format("the last row has {} steps, the trainer {}", c.rows.back().steps, c.trainer.steps));
  Index previous = -1;
  for (const auto& k : c.kept) {
    if (k.epoch <= previous || k.epoch > c.trainer.epoch)
      bad(fmt::format("kept parameters for epoch {} (after epoch {}, trained to {})", k.epoch, previous,
                      c.trainer.epoch));
    if (k.parameters.size() != c.parameters.size())
      bad(fmt::format("kept parameters for epoch {} have {} values, the model {}", k.epoch, k.parameters.size(),
                      c.parameters.size()));
    previous = k.epoch;
  }
}

}  // namespace

std::uint64_t config_fingerprint(std::string_view config_toml) {
  return fnv1a64(config_toml);
}

fs::path checkpoint_path(const fs::path& out_dir, Index k) {
  return out_dir / "checkpoints" / fmt::format("seed-{}.bin", k);
}

std::string encode_checkpoint(const StudyCheckpoint& c) {
  Writer p;
  p.text(c.experiment);
  p.u64(c.config_fingerprint);
  p.text(c.config_toml);
  p.i64(c.seeds);
  p.i64(c.seed_index);
  p.i64(c.trainer.epoch);
  p.i64(c.trainer.steps);
  for (std::uint64_t s : c.trainer.rng.s) p.u64(s);
  p.u8(c.trainer.rng.has_spare ? 1 : 0);
  p.f64(c.trainer.rng.spare);
  p.i64(c.trainer.optimizer.step);
  p.vector(c.trainer.optimizer.values);
  p.vector(c.parameters);
  p.u64(c.rows.size());
  for (const auto& r : c.rows) {
    p.i64(r.epoch);
    p.i64(r.steps);
    p.f64(r.train_loss);
  }
  p.u64(c.kept.size());
  for (const auto& k : c.kept) {
    p.i64(k.epoch);
    p.vector(k.parameters);
  }
  const std::string& payload = p.bytes();

  Writer file;
  file.bytes().append(kMagic.data(), kMagic.size());
  file.u32(kCheckpointVersion);
  file.u32(0);
  file.u64(payload.size());
  file.bytes().append(payload);
  file.u64(fnv1a64(payload));
  return std::move(file.bytes());
}

StudyCheckpoint decode_checkpoint(std::string_view bytes, const std::string& name) {
  const auto fail = [&](const std::string& what) { throw DataError(fmt::format("checkpoint '{}' {}", name, what)); };
  if (bytes.empty()) fail("is empty");
  if (bytes.size() < kMagic.size() || std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0)
    fail("is not a diffgen checkpoint (no DGCKPT header)");
  if (bytes.size() < kHeaderBytes)
    fail(fmt::format("is truncated: {} bytes, shorter than the {}-byte header", bytes.size(), kHeaderBytes));
  Reader header(bytes.substr(kMagic.size(), kHeaderBytes - kMagic.size()), name, kMagic.size());
  const std::uint32_t version = header.u32();
  if (version != kCheckpointVersion)
    fail(fmt::format("has format version {}; this diffgen reads version {}", version, kCheckpointVersion));
  // Reserved, 0: checked, so that no bit of the file can change unnoticed.
  if (const std::uint32_t reserved = header.u32(); reserved != 0)
    fail(fmt::format("is corrupt: the reserved header field is {:#x}, not 0", reserved));
  const std::uint64_t payload_size = header.u64();
  const std::uint64_t available = bytes.size() - kHeaderBytes;
  if (payload_size > available || available - payload_size < kChecksumBytes)
    fail(fmt::format("is truncated: {} bytes, the header announces {}", bytes.size(),
                     kHeaderBytes + payload_size + kChecksumBytes));
  if (available - payload_size > kChecksumBytes)
    fail(fmt::format("has {} unexpected bytes after the checksum", available - payload_size - kChecksumBytes));
  const std::string_view payload = bytes.substr(kHeaderBytes, payload_size);
  const std::uint64_t stored = Reader(bytes.substr(kHeaderBytes + payload_size), name, 0).u64();
  const std::uint64_t computed = fnv1a64(payload);
  if (stored != computed)
    fail(fmt::format("is corrupt: checksum mismatch (stored {:016x}, computed {:016x})", stored, computed));

  Reader r(payload, name, kHeaderBytes);
  StudyCheckpoint c;
  c.experiment = r.text("the experiment name");
  c.config_fingerprint = r.u64();
  c.config_toml = r.text("the configuration");
  c.seeds = r.i64();
  c.seed_index = r.i64();
  c.trainer.epoch = r.i64();
  c.trainer.steps = r.i64();
  for (std::uint64_t& s : c.trainer.rng.s) s = r.u64();
  const std::uint8_t has_spare = r.u8();
  if (has_spare > 1) r.fail(fmt::format("RNG flag {} is not 0 or 1", has_spare));
  c.trainer.rng.has_spare = has_spare == 1;
  c.trainer.rng.spare = r.f64();
  c.trainer.optimizer.step = r.i64();
  c.trainer.optimizer.values = r.vector("the optimizer state");
  c.parameters = r.vector("the parameters");
  const std::uint64_t rows = r.count(24, "the rows");
  c.rows.resize(rows);
  for (auto& row : c.rows) {
    row.epoch = r.i64();
    row.steps = r.i64();
    row.train_loss = r.f64();
  }
  const std::uint64_t kept = r.count(16, "the kept parameters");
  c.kept.resize(kept);
  for (auto& k : c.kept) {
    k.epoch = r.i64();
    k.parameters = r.vector("kept parameters");
  }
  if (r.left() != 0) r.fail(fmt::format("{} unread bytes at the end of the payload", r.left()));
  check_consistent(c, name);
  return c;
}

void save_checkpoint(const fs::path& file, const StudyCheckpoint& checkpoint) {
  write_file_atomic(file, encode_checkpoint(checkpoint));
}

StudyCheckpoint load_checkpoint(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw DataError(fmt::format("checkpoint '{}' {}", file.string(),
                                fs::exists(file, ec) ? "is not a regular file" : "does not exist"));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DataError(fmt::format("checkpoint '{}' cannot be opened: {}", file.string(), std::strerror(errno)));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw DataError(fmt::format("checkpoint '{}' cannot be read", file.string()));
  return decode_checkpoint(bytes, file.string());
}

void check_checkpoint_matches(const StudyCheckpoint& c, const fs::path& file, std::string_view experiment,
                              const Config& config, Index seeds, Index seed_index) {
  const std::string name = file.string();
  if (c.experiment != experiment)
    throw ConfigError(
        fmt::format("checkpoint '{}' belongs to a run of '{}', not '{}'", name, c.experiment, experiment));
  if (c.seed_index != seed_index)
    throw ConfigError(fmt::format("checkpoint '{}' holds seed {}, not seed {}", name, c.seed_index, seed_index));
  if (c.seeds != seeds)
    throw ConfigError(fmt::format("checkpoint '{}' was written by a run with --seeds {}; this one has --seeds {}", name,
                                  c.seeds, seeds));
  const std::string toml = config.to_toml();
  if (c.config_fingerprint == config_fingerprint(toml) && c.config_toml == toml) return;

  // Name what differs: read the stored settings back through the same schema.
  Config stored(config.schema());
  try {
    stored.merge_toml_string(c.config_toml, name);
  } catch (const ConfigError& e) {
    throw ConfigError(
        fmt::format("checkpoint '{}' was written with settings this diffgen does not accept ({}); start a new run",
                    name, e.what()));
  }
  std::string differences;
  for (const auto& spec : config.schema().keys()) {
    const Value& then = stored.get(spec.key);
    const Value& now = config.get(spec.key);
    if (then == now) continue;
    differences += fmt::format("{}{} = {} in the checkpoint, {} now", differences.empty() ? "" : "; ", spec.key,
                               format_value(then), format_value(now));
  }
  if (differences.empty())
    differences = "same values, but the configuration text differs (written by another diffgen version?)";
  throw ConfigError(fmt::format("checkpoint '{}' was written with other settings: {}", name, differences));
}

}  // namespace diffgen
