// Checkpoints of a training study, one file per seed (DIR/checkpoints/seed-K.bin),
// holding everything needed to continue training bit-identically after a kill:
// the parameters, the trainer's state (epoch, steps, RNG, optimizer), the rows
// so far and the parameter copies kept for the evaluations after training,
// together with the resolved configuration that produced them, so that a
// resume under other settings is refused instead of silently mixing runs.
//
// Format (version 1, all integers little-endian):
//   8 bytes  magic "DGCKPT\r\n" (the line ends catch text-mode mangling)
//   u32      format version
//   u32      reserved, 0
//   u64      payload size in bytes
//   payload  (see encode_checkpoint)
//   u64      FNV-1a 64 checksum of the payload
// Files are replaced atomically (write_file_atomic), so a kill while saving
// leaves the previous checkpoint whole.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/types.hpp"
#include "training/trainer.hpp"

namespace diffgen {

inline constexpr std::uint32_t kCheckpointVersion = 1;

// One trained epoch (epoch 0: before training, loss NaN).
struct CheckpointRow {
  Index epoch = 0;
  Index steps = 0;
  double train_loss = 0.0;
};

// A copy of the parameters at an epoch where an evaluation is due.
struct KeptParameters {
  Index epoch = 0;
  Vector parameters;
};

struct StudyCheckpoint {
  // Which run wrote it.
  std::string experiment;
  std::uint64_t config_fingerprint = 0;  // config_fingerprint(config_toml)
  std::string config_toml;               // Config::to_toml() of the run, to name what differs
  Index seeds = 0;                       // K of the run
  Index seed_index = 0;                  // k of this file
  // Where training stands.
  TrainerState trainer;
  Vector parameters;
  std::vector<CheckpointRow> rows;   // epochs 0..trainer.epoch, in order
  std::vector<KeptParameters> kept;  // in epoch order
};

// FNV-1a 64 of the text: equal settings give equal fingerprints.
std::uint64_t config_fingerprint(std::string_view config_toml);

// DIR/checkpoints/seed-K.bin.
std::filesystem::path checkpoint_path(const std::filesystem::path& out_dir, Index k);

// The file's bytes, and back. decode_checkpoint throws DataError naming
// `name` and what is wrong: not a checkpoint, another version, truncated,
// checksum mismatch, or inconsistent contents.
std::string encode_checkpoint(const StudyCheckpoint& checkpoint);
StudyCheckpoint decode_checkpoint(std::string_view bytes, const std::string& name);

// Atomic write (DataError when it cannot be written) and read (DataError
// when missing, unreadable or bad, naming the file).
void save_checkpoint(const std::filesystem::path& file, const StudyCheckpoint& checkpoint);
StudyCheckpoint load_checkpoint(const std::filesystem::path& file);

// Throws ConfigError when the checkpoint was written by another experiment,
// for another seed, under another seed count or other settings; the message
// names the file and every key whose value differs.
void check_checkpoint_matches(const StudyCheckpoint& checkpoint, const std::filesystem::path& file,
                              std::string_view experiment, const Config& config, Index seeds, Index seed_index);

}  // namespace diffgen
