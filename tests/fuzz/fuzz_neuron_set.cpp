// libFuzzer target: a neuron-set file (a scorer's scores or a selection). Loads it, then checks
// it against the tiny preset model and takes rank 0's part of it, as training and selection do.
#include <cstddef>
#include <cstdint>

#include "model/config.h"
#include "neuron/neuron_set.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const neft::model::LlamaConfig config = neft::model::preset("tiny");
  const std::string path = neft::fuzz::write_input("neurons.safetensors", data, size);
  neft::fuzz::expect_only_project_errors([&] {
    const neft::neuron::NeuronSet set = neft::neuron::load_neuron_set(path);
    const neft::neuron::NeuronSpace space = neft::neuron::space_of(set, config, 1, 1, path);
    neft::fuzz::expect_only_project_errors(
        [&] { neft::neuron::local_scores(set, space, 0, 0, path); });
  });
  return 0;
}
