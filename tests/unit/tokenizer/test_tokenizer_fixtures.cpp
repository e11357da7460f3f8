// Every shipped family's tokenizer.json, and two that exercise the options the families
// leave unused, against Hugging Face tokenizers on the same 2400 strings
// (tests/golden/tokenizers/make_tokenizer_fixtures.py made both): the ids of
// encode without and with special tokens are identical, and decode gives back what
// tokenizers' decode gives (the string itself, except where a normalizer changed it). Ids
// are integers: no tolerance.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/unit/jsonl.h"
#include "tokenizer/tokenizer.h"

namespace neft::tokenizer {
namespace {

std::string fixtures() { return std::string(NEFT_SOURCE_DIR) + "/tests/golden/tokenizers"; }

using ::neft::testing::read_jsonl;

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return "[" + s + "]";
}

class Family : public ::testing::TestWithParam<std::string> {};

TEST_P(Family, IdsAndDecodeMatchHuggingFaceTokenizers) {
  const std::string dir = fixtures() + "/" + GetParam();
  const auto tok = Tokenizer::load(dir);
  const std::vector<nlohmann::json> strings = read_jsonl(fixtures() + "/strings.jsonl");
  const std::vector<nlohmann::json> expected = read_jsonl(dir + "/ids.jsonl");
  ASSERT_EQ(strings.size(), expected.size());
  ASSERT_GE(strings.size(), 2000u);
  int wrong = 0, with_special = 0;
  for (size_t i = 0; i < strings.size() && wrong < 10; ++i) {
    const std::string text = strings[i]["text"];
    const std::vector<int32_t> want = expected[i]["ids"], got = tok->encode(text);
    if (got != want) {
      ++wrong;
      ADD_FAILURE() << "string " << i << " " << nlohmann::json(text).dump() << "\n  ours "
                    << show(got) << "\n  HF   " << show(want);
      continue;
    }
    if (expected[i].contains("with_special")) {
      ++with_special;
      const std::vector<int32_t> w = expected[i]["with_special"];
      EXPECT_EQ(tok->encode(text, true), w) << "string " << i << " with special tokens";
    }
    const std::string decoded = expected[i].value("decoded", text);
    EXPECT_EQ(tok->decode(want), decoded) << "string " << i << " decoded";
  }
  std::printf("%s: %zu strings, %d with special tokens added\n", GetParam().c_str(), strings.size(),
              with_special);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Family,
                         ::testing::Values("gpt2", "llama3", "smollm2", "qwen2", "llama2",
                                           "mistral", "options", "unknown"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace neft::tokenizer
