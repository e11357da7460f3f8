// libFuzzer target: a .safetensors file, the format every checkpoint, neuron set and delta is
// read from. Opens it (which validates the header) and reads every tensor it lists: whole, as
// F32 and as its own dtype, and its last row and last column, as a tensor-parallel rank does.
#include <cstddef>
#include <cstdint>

#include "model/safetensors.h"
#include "tests/fuzz/fuzz_input.h"

using neft::DType;
using neft::fuzz::expect_only_project_errors;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = neft::fuzz::write_input("input.safetensors", data, size);
  expect_only_project_errors([&] {
    const neft::model::SafetensorsFile file(path);
    for (const std::string& name : file.names()) {
      const neft::model::TensorInfo& info = file.info(name);
      const DType own = info.dtype;
      expect_only_project_errors([&] { file.read(name, DType::F32); });
      expect_only_project_errors([&] { file.read(name, own); });
      if (!info.shape.empty() && info.shape[0] > 0)
        expect_only_project_errors([&] { file.read_rows(name, info.shape[0] - 1, 1, own); });
      if (info.shape.size() == 2 && info.shape[1] > 0)
        expect_only_project_errors([&] { file.read_cols(name, info.shape[1] - 1, 1, own); });
    }
  });
  return 0;
}
