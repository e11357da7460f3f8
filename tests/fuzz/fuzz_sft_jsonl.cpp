// libFuzzer target: a JSONL file of supervised examples, read with a vocab (every id checked
// against it) and without one (ids checked against int32 only).
#include <cstddef>
#include <cstdint>

#include "data/sft.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = neft::fuzz::write_input("train.jsonl", data, size);
  for (const int32_t vocab : {256, 0})
    neft::fuzz::expect_only_project_errors([&] { neft::data::load_sft_jsonl(path, {vocab}); });
  return 0;
}
