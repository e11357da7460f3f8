// libFuzzer target: checkpoint_index.json, the layout-free index of a sharded training
// checkpoint, in a directory that holds two valid rank files (checkpoint_index_fixture.h).
// Opens the checkpoint and reads every slice and row set the index names.
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "tests/fuzz/checkpoint_index_fixture.h"
#include "tests/fuzz/fuzz_input.h"
#include "train/sharded_checkpoint.h"

namespace {

std::filesystem::path checkpoint_dir() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path d = neft::fuzz::scratch_dir() / "sharded-checkpoint";
    std::filesystem::create_directories(d);
    neft::fuzz::write_checkpoint_rank_files(d);
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path dir = checkpoint_dir();
  neft::fuzz::write_file(dir / neft::train::kCheckpointIndexFile, data, size);
  neft::fuzz::expect_only_project_errors(
      [&] { neft::train::ShardedCheckpoint(dir.string()).verify(); });
  return 0;
}
