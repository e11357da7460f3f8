// libFuzzer target: model.safetensors.index.json, the index of a sharded checkpoint, in a
// directory that holds two valid shards (index_fixture.h). Opens the checkpoint and reads
// every tensor the index maps.
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "model/safetensors.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/index_fixture.h"

namespace {

// The checkpoint directory, its shards written once (and their index removed, to be replaced
// by each input).
std::filesystem::path checkpoint_dir() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path d = neft::fuzz::scratch_dir() / "checkpoint";
    neft::model::save_safetensors_sharded(d.string(), neft::fuzz::index_tensors(),
                                          neft::fuzz::kIndexShardBytes);
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path dir = checkpoint_dir();
  neft::fuzz::write_file(dir / neft::model::kSafetensorsIndexFile, data, size);
  neft::fuzz::expect_only_project_errors([&] {
    const neft::model::Checkpoint checkpoint(dir.string());
    checkpoint.metadata();
    for (const std::string& name : checkpoint.names()) {
      const neft::DType dtype = checkpoint.info(name).dtype;
      checkpoint.read(name, neft::is_floating(dtype) ? neft::DType::F32 : dtype);
    }
  });
  return 0;
}
