// libFuzzer target: the sparse delta of a neuron-level run, checked against the tiny preset
// model (everything applying it would check, without a model).
#include <cstddef>
#include <cstdint>

#include "model/config.h"
#include "neuron/delta.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const neft::model::LlamaConfig config = neft::model::preset("tiny");
  const std::string path = neft::fuzz::write_input("delta.safetensors", data, size);
  neft::fuzz::expect_only_project_errors([&] { neft::neuron::check_delta(path, config); });
  return 0;
}
