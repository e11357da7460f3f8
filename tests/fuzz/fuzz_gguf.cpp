// libFuzzer target: a GGUF file, parsed, every tensor read as f32 (dequantized), and the
// whole import into a Hugging Face directory (config, weights, tokenizer files), whose
// tokenizer then loads.
#include <cstddef>
#include <cstdint>

#include "model/gguf.h"
#include "model/gguf_import.h"
#include "tests/fuzz/fuzz_input.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = neft::fuzz::write_input("model.gguf", data, size);
  const std::string out = (neft::fuzz::scratch_dir() / "imported").string();
  neft::fuzz::expect_only_project_errors([&] {
    const neft::model::GgufFile g(path);
    for (const neft::model::GgufTensor& t : g.tensors())
      neft::fuzz::expect_only_project_errors([&] { g.read_f32(t); });
  });
  neft::fuzz::expect_only_project_errors([&] {
    neft::model::import_gguf(path, out);
    neft::tokenizer::Tokenizer::load(out)->encode("<s>ab 12");
  });
  return 0;
}
