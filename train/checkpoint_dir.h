// The checkpoint directory of a training run, <out>/checkpoints/:
//
//   step-00000100/          one complete checkpoint per saved step
//   step-00000200/
//   step-00000300.tmp-4242/ a save in progress (or left by a crash): never loaded
//   latest                  "step-00000200": the newest complete checkpoint
//
// A checkpoint is written under a temporary name, flushed to disk, and renamed into place;
// only then does `latest` (replaced atomically) name it. So a save interrupted at any point
// leaves the previous checkpoint in force. Pruning renames a checkpoint away before deleting
// it: a directory under a complete name is whole at every instant. What a checkpoint holds is the
// caller's business: it passes a function that writes files into a directory.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace neft::train {

// Writes the checkpoint's files into `dir` (which exists and is empty).
using CheckpointWriter = std::function<void(const std::filesystem::path& dir)>;

struct CheckpointEntry {
  int64_t step = 0;
  std::filesystem::path dir;
};

std::filesystem::path checkpoints_dir(const std::filesystem::path& out_dir);
// "step-00000100".
std::string checkpoint_name(int64_t step);
// The step of a complete checkpoint directory named "step-<digits>"; nullopt for other
// names, temporary directories included.
std::optional<int64_t> checkpoint_step(const std::filesystem::path& dir);

// Saves the checkpoint of `step` and returns its directory. Afterwards the checkpoint
// directory holds the `keep` newest checkpoints up to `step` (0: all of them); those of
// later steps, left by a run this one resumed before, are deleted, since they belong to a
// history that no longer happened. When `write_files` throws, its partial directory is
// removed, the exception propagates and `latest` is unchanged.
std::filesystem::path save_checkpoint(const std::filesystem::path& out_dir, int64_t step,
                                      const CheckpointWriter& write_files, int64_t keep);

// Removes what killed runs left in <out> and <out>/checkpoints: temporary files and
// directories of saves, prunings and model links. For the start of a run, which alone
// writes there.
void remove_run_leftovers(const std::filesystem::path& out_dir);

// The checkpoint to resume from: the one `latest` names, or, when `latest` is missing or
// names a directory that does not exist, the complete checkpoint of the highest step.
// nullopt when there is none.
std::optional<std::filesystem::path> find_latest_checkpoint(const std::filesystem::path& out_dir);

// The complete checkpoints, by increasing step.
std::vector<CheckpointEntry> list_checkpoints(const std::filesystem::path& out_dir);

}  // namespace neft::train
