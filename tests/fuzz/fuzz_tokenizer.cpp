// libFuzzer target: a Hugging Face tokenizer.json, and for one that loads, the encoding of
// texts that reach every stage (added tokens, normalizers, each pre-tokenizer, byte fallback,
// unknown tokens) and the decoding of what they gave, with and without special tokens.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_input.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = neft::fuzz::write_input("tokenizer.json", data, size);
  neft::fuzz::expect_only_project_errors([&] {
    const auto tok = neft::tokenizer::Tokenizer::load(path);
    for (const char* text :
         {"", "Hello, world! 123 4567", "  <|end|>x<s>\t\n  y  ",
          "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80 \xE2\x85\xA5"}) {
      for (const bool special : {false, true}) {
        const std::vector<int32_t> ids = tok->encode(text, special);
        volatile size_t sink = tok->decode(ids, special).size() + tok->vocab_size();
        (void)sink;
      }
    }
  });
  return 0;
}
