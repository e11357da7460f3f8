#include "train/checkpoint_dir.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>

#include "runtime/atomic_file.h"
#include "runtime/crash_point.h"
#include "runtime/error.h"

namespace neft::train {

namespace fs = std::filesystem;

namespace {

const char* const kLatestFile = "latest";

// Deletes a complete checkpoint without a moment at which a partly deleted directory holds
// its complete name: renamed to a temporary name first (one atomic step), then removed. A
// kill during the removal leaves a temporary, which the next run removes. Best effort: a
// checkpoint that cannot be renamed stays whole, costing disk space, not correctness.
void retire(const fs::path& dir) {
  const fs::path away =
      dir.string() + kTempDirectoryMarker + std::to_string(::getpid()) + "-pruned";
  std::error_code ec;
  fs::rename(dir, away, ec);
  if (ec) return;
  crash_point("checkpoint renamed away for pruning");
  // File by file, so that a kill can land midway (and the kill tests show what it leaves).
  std::vector<fs::path> files;
  for (const fs::directory_entry& file : fs::directory_iterator(away, ec))
    files.push_back(file.path());
  for (const fs::path& file : files) {
    fs::remove_all(file, ec);
    crash_point("a file of a pruned checkpoint removed");
  }
  fs::remove_all(away, ec);
}

}  // namespace

fs::path checkpoints_dir(const fs::path& out_dir) { return out_dir / "checkpoints"; }

std::string checkpoint_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", (long long)step);
  return buf;
}

std::optional<int64_t> checkpoint_step(const fs::path& dir) {
  const std::string name = dir.filename().string();
  const std::string prefix = "step-";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  const char* begin = name.data() + prefix.size();
  const char* end = name.data() + name.size();
  if (!std::all_of(begin, end, [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  int64_t step = 0;
  const auto [stop, ec] = std::from_chars(begin, end, step);
  if (ec != std::errc() || stop != end) return std::nullopt;
  return step;
}

std::vector<CheckpointEntry> list_checkpoints(const fs::path& out_dir) {
  std::vector<CheckpointEntry> entries;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(checkpoints_dir(out_dir), ec)) {
    if (!entry.is_directory()) continue;
    if (const auto step = checkpoint_step(entry.path())) entries.push_back({*step, entry.path()});
  }
  std::sort(entries.begin(), entries.end(),
            [](const CheckpointEntry& a, const CheckpointEntry& b) { return a.step < b.step; });
  return entries;
}

fs::path save_checkpoint(const fs::path& out_dir, int64_t step, const CheckpointWriter& write_files,
                         int64_t keep) {
  NEFT_CHECK(step >= 0, "checkpoint: negative step ", step);
  const fs::path dir = checkpoints_dir(out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("checkpoint: cannot create directory ", dir.string(), ": ", ec.message());

  // A directory of the same step exists when this run resumed from an earlier checkpoint
  // than a previous run reached: write_directory_atomic replaces it.
  const std::string name = checkpoint_name(step);
  const fs::path final_dir = dir / name;
  write_directory_atomic(
      final_dir.string(), [&](const std::string& temp) { write_files(temp); },
      kTempDirectoryMarker + std::to_string(::getpid()));
  write_file_atomic((dir / kLatestFile).string(), name + "\n");

  // Prune: the `keep` newest up to `step` and nothing after it. (The temporaries of saves
  // killed before this run are removed at its start: remove_run_leftovers.)
  const std::vector<CheckpointEntry> entries = list_checkpoints(out_dir);
  int64_t kept = 0;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->step > step || (it->step < step && keep > 0 && kept >= keep)) retire(it->dir);
    if (it->step <= step) ++kept;
  }
  return final_dir;
}

void remove_run_leftovers(const fs::path& out_dir) {
  remove_temp_leftovers(out_dir.string());
  remove_temp_leftovers(checkpoints_dir(out_dir).string());
}

std::optional<fs::path> find_latest_checkpoint(const fs::path& out_dir) {
  const fs::path dir = checkpoints_dir(out_dir);
  std::ifstream latest(dir / kLatestFile);
  std::string name;
  if (latest >> name && checkpoint_step(name) && fs::is_directory(dir / name)) return dir / name;
  const std::vector<CheckpointEntry> entries = list_checkpoints(out_dir);
  if (entries.empty()) return std::nullopt;
  return entries.back().dir;
}

}  // namespace neft::train
