// `neft generate` as a user runs it, on the real model (SmolLM2-135M-Instruct, imported by
// `neft import-gguf`; skipped, saying why, when scripts/fetch_smollm2.sh has not fetched it):
// an --input JSONL answered as transformers' greedy generate answers it
// (tests/golden/smollm2/greedy.jsonl), a --prompt streamed to standard output as the same
// text, and seeded sampling that repeats itself.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/process/run_process.h"
#include "tests/unit/temp_dir.h"
#include "tokenizer/tokenizer.h"

namespace neft::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string gguf_path() {
  if (const char* p = std::getenv("NEFT_SMOLLM2_GGUF")) return p;
  return std::string(NEFT_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

// The fixture's generations were made with max_new_tokens 40 (make_generation_fixture.py).
constexpr int kMaxNew = 40;

class GenerateCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(gguf_path())) return;
    dir_ = new TempDir;
    const ProcessResult r =
        run_neft_process({"import-gguf", gguf_path(), "--out", dir_->file("model")}, dir_->path());
    if (!r.exited || r.status != 0) {
      std::fprintf(stderr, "import-gguf failed: %s\n", r.err.c_str());
      delete dir_;
      dir_ = nullptr;
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!fs::exists(gguf_path()))
      GTEST_SKIP() << gguf_path() << " is not there: scripts/fetch_smollm2.sh fetches it";
    ASSERT_NE(dir_, nullptr) << "neft import-gguf failed";
  }
  static std::string model() { return dir_->file("model"); }
  // Lines 0, 2 and 4 of the fixture: one that stops at eos after 8 tokens, one cut at 40, one
  // that stops after 9.
  static std::vector<json> fixture_lines() {
    std::ifstream in(std::string(NEFT_SOURCE_DIR) + "/tests/golden/smollm2/greedy.jsonl");
    std::vector<json> lines;
    int n = 0;
    for (std::string text; std::getline(in, text); ++n)
      if (n == 0 || n == 2 || n == 4) lines.push_back(json::parse(text));
    return lines;
  }
  ProcessResult generate(std::vector<std::string> args) const {
    args.insert(args.begin(), {"generate", "--model", model()});
    return run_neft_process(args, dir_->path());
  }
  static TempDir* dir_;
};
TempDir* GenerateCommand::dir_ = nullptr;

TEST_F(GenerateCommand, InputJsonlAnswersAsTransformersGreedy) {
  const std::vector<json> want = fixture_lines();
  {
    std::ofstream in(dir_->file("prompts.jsonl"));
    for (const json& w : want)
      in << json{{"prompt", w["prompt"]}, {"id", w["prompt"]}}.dump() << "\n";
  }
  const ProcessResult r =
      generate({"--input", dir_->file("prompts.jsonl"), "--max-new-tokens", std::to_string(kMaxNew),
                "--batch-size", "2", "--out", dir_->file("answers.jsonl")});
  ASSERT_TRUE(r.exited && r.status == 0) << r.err;
  const auto tok = tokenizer::Tokenizer::load(model());
  std::ifstream answers(dir_->file("answers.jsonl"));
  size_t n = 0;
  for (std::string text; std::getline(answers, text); ++n) {
    ASSERT_LT(n, want.size());
    const json got = json::parse(text);
    const std::vector<int32_t> ids = want[n]["ids"];
    const bool stopped = ids.size() < size_t(kMaxNew) || ids.back() == 2;
    EXPECT_EQ(got["id"], want[n]["prompt"]) << "the input's own fields are kept";
    EXPECT_EQ(got["completion"], tok->decode(ids, true)) << "prompt " << n;
    EXPECT_EQ(got["completion_tokens"], ids.size()) << "prompt " << n;
    EXPECT_EQ(got["finish_reason"], stopped ? "stop" : "length") << "prompt " << n;
  }
  EXPECT_EQ(n, want.size());
}

TEST_F(GenerateCommand, PromptStreamsTheGreedyText) {
  const json want = fixture_lines()[0];
  const ProcessResult r =
      generate({"--prompt", want["prompt"], "--max-new-tokens", std::to_string(kMaxNew)});
  ASSERT_TRUE(r.exited && r.status == 0) << r.err;
  const auto tok = tokenizer::Tokenizer::load(model());
  EXPECT_EQ(r.out, tok->decode(want["ids"].get<std::vector<int32_t>>(), true) + "\n");
  EXPECT_NE(r.err.find("tok/s"), std::string::npos) << r.err;
}

TEST_F(GenerateCommand, SeededSamplingRepeats) {
  const std::vector<std::string> args{"--prompt",         "Write a haiku about the sea.",
                                      "--max-new-tokens", "12",
                                      "--temperature",    "0.8",
                                      "--top-p",          "0.9",
                                      "--seed",           "5"};
  const ProcessResult a = generate(args), b = generate(args);
  ASSERT_TRUE(a.exited && a.status == 0) << a.err;
  ASSERT_TRUE(b.exited && b.status == 0) << b.err;
  EXPECT_FALSE(a.out.empty());
  EXPECT_EQ(a.out, b.out);
}

}  // namespace
}  // namespace neft::testing
