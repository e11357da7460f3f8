// libFuzzer target: a Hugging Face config.json, read as a Llama configuration, and the sizes
// derived from an accepted one (what the planner and the reports compute from it).
#include <cstddef>
#include <cstdint>

#include "model/config.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = neft::fuzz::write_input("config.json", data, size);
  neft::fuzz::expect_only_project_errors([&] {
    const neft::model::LlamaConfig c = neft::model::load_hf_config(path);
    volatile int64_t sink = c.parameter_count() + c.q_dim() + c.kv_dim();
    (void)sink;
  });
  return 0;
}
