// The one real pretrained model, SmolLM2-135M-Instruct (Q4_1 GGUF; scripts/fetch_smollm2.sh
// fetches it into models/), imported by `neft import-gguf` and held to what transformers
// computes from the same file (tests/golden/smollm2/make_smollm2_fixture.py): the tokenizer's
// ids on the 2400 strings of tests/golden/tokenizers/ and on four real texts, and the model's
// logits on those texts. Skipped, saying why, when the file is not there.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "data/text_example.h"
#include "model/gguf_import.h"
#include "model/safetensors.h"
#include "tests/unit/model/golden_fixture.h"
#include "tests/unit/temp_dir.h"
#include "tokenizer/tokenizer.h"
#include "train/generation.h"

namespace neft::model {
namespace {

std::string gguf_path() {
  if (const char* p = std::getenv("NEFT_SMOLLM2_GGUF")) return p;
  return std::string(NEFT_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

std::string golden_dir() { return std::string(NEFT_SOURCE_DIR) + "/tests/golden/smollm2"; }

class SmolLM2 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(gguf_path())) return;
    dir_ = new neft::testing::TempDir;
    import_gguf(gguf_path(), dir_->file("model"));
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!dir_) GTEST_SKIP() << gguf_path() << " is not there: scripts/fetch_smollm2.sh fetches it";
  }
  static std::string model_dir() { return dir_->file("model"); }
  static neft::testing::TempDir* dir_;
};
neft::testing::TempDir* SmolLM2::dir_ = nullptr;

TEST_F(SmolLM2, TokenizerIdsMatchTransformers) {
  const auto tok = tokenizer::Tokenizer::load(model_dir());
  std::ifstream strings(std::string(NEFT_SOURCE_DIR) + "/tests/golden/tokenizers/strings.jsonl");
  std::ifstream ids(golden_dir() + "/ids.jsonl");
  size_t n = 0, wrong = 0;
  for (std::string s, i; std::getline(strings, s) && std::getline(ids, i); ++n) {
    const std::string text = nlohmann::json::parse(s)["text"];
    const std::vector<int32_t> want = nlohmann::json::parse(i)["ids"];
    if (tok->encode(text) != want && ++wrong <= 5)
      ADD_FAILURE() << "string " << n << " " << nlohmann::json(text).dump();
    if (wrong == 0) {
      EXPECT_EQ(tok->decode(want), text) << "string " << n;
    }
  }
  EXPECT_EQ(n, 2400u);
  EXPECT_EQ(wrong, 0u);
  const SafetensorsFile golden(golden_dir() + "/golden.safetensors");
  const auto texts = nlohmann::json::parse(golden.metadata().at("texts"));
  for (size_t k = 0; k < texts.size(); ++k)
    EXPECT_EQ(tok->encode(texts[k].get<std::string>()),
              golden.read("ids_" + std::to_string(k), DType::I32).to_ints())
        << "text " << k;
}

// Both sides run f32 on the same dequantized weights (checked equal to transformers' in
// make_smollm2_fixture.py's terms: the same d * q + m per block), so the logits differ only
// by summation order, through 30 layers. Held to 1e-4 of their spread per position
// (test_golden.cpp allows 2e-5 over 2 layers; rounding grows with depth), and the argmax
// must be transformers' or a near tie within that.
TEST_F(SmolLM2, LogitsMatchTransformers) {
  const auto m = neft::testing::load_fixture_model(model_dir(), Device::CPU);
  const SafetensorsFile golden(golden_dir() + "/golden.safetensors");
  const int64_t stride = std::stoll(golden.metadata().at("stride")), V = m->config().vocab;
  const auto texts = nlohmann::json::parse(golden.metadata().at("texts"));
  double worst = 0;
  for (size_t k = 0; k < texts.size(); ++k) {
    const std::string key = std::to_string(k);
    const std::vector<int32_t> ids = golden.read("ids_" + key, DType::I32).to_ints();
    const int64_t T = int64_t(ids.size());
    const Tensor tokens = Tensor::from_ints(ids, {1, T});
    m->forward(tokens, Tensor::from_ints(std::vector<int32_t>(ids.size(), -100), {1, T}));
    const std::vector<float> logits = m->logits().to_floats();
    const std::vector<float> lse = golden.read("lse_" + key, DType::F32).to_floats(),
                             sample = golden.read("logits_" + key, DType::F32).to_floats();
    const std::vector<int32_t> argmax = golden.read("argmax_" + key, DType::I32).to_ints();
    const int64_t per_row = (V + stride - 1) / stride;
    for (int64_t t = 0; t < T; ++t) {
      const float* row = logits.data() + t * V;
      float lo = row[0], hi = row[0];
      double sum = 0;
      for (int64_t v = 0; v < V; ++v) lo = std::min(lo, row[v]), hi = std::max(hi, row[v]);
      for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - hi);
      const double scale = double(hi - lo);
      double diff = std::abs(double(hi) + std::log(sum) - lse[size_t(t)]);
      for (int64_t j = 0; j < per_row; ++j)
        diff = std::max(diff, std::abs(double(row[j * stride]) - sample[size_t(t * per_row + j)]));
      worst = std::max(worst, diff / scale);
      EXPECT_LE(diff, 1e-4 * scale) << "text " << k << " position " << t;
      EXPECT_LE(double(hi) - row[argmax[size_t(t)]], 1e-4 * scale)
          << "text " << k << " position " << t << ": transformers' argmax is not ours";
    }
  }
  std::printf("largest logit difference / logit spread: %.3g\n", worst);
}

// Greedy generation (KV cache, prompts batched eight at a time, left-padded) from the chat
// prompts' ids equals transformers' greedy generate() on the same model (greedy.jsonl,
// make_generation_fixture.py), token for token. The logits test above bounds each logit's
// difference by 1e-4 of the row's spread, so the two can pick different tokens only where
// transformers' best two were within 2e-4 of the spread; a prompt may part from the
// reference only at such a step (and is then compared no further). Our chat template and
// tokenizer give the reference's prompt ids too.
TEST_F(SmolLM2, GreedyGenerationMatchesTransformers) {
  auto m = neft::testing::load_fixture_model(model_dir(), Device::CPU);
  const data::TextFormat format = data::TextFormat::for_model(model_dir());
  std::vector<std::vector<int32_t>> prompts, expected;
  std::vector<std::vector<double>> margins;
  std::ifstream in(golden_dir() + "/greedy.jsonl");
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    prompts.push_back(j["prompt_ids"].get<std::vector<int32_t>>());
    expected.push_back(j["ids"].get<std::vector<int32_t>>());
    margins.push_back(j["margins"].get<std::vector<double>>());
    EXPECT_EQ(data::chat_prompt_ids(format, {{"user", j["prompt"].get<std::string>()}}),
              prompts.back())
        << j["prompt"];
  }
  ASSERT_GE(prompts.size(), 20u);
  train::GenerationOptions o;
  o.max_new_tokens = 40;
  o.batch = 8;
  o.eos = m->config().eos_token_ids;
  const std::vector<train::Generated> out = train::generate(*m, prompts, o);
  size_t identical = 0;
  for (size_t p = 0; p < prompts.size(); ++p) {
    const auto& got = out[p].ids;
    const auto& want = expected[p];
    const size_t n = std::min(got.size(), want.size());
    size_t s = 0;
    while (s < n && got[s] == want[s]) ++s;
    if (s == n && got.size() == want.size()) {
      ++identical;
      continue;
    }
    ASSERT_LT(s, n) << "prompt " << p << ": one output is a prefix of the other";
    // Parted at step s: the reference's margin there must be a near tie of our logits.
    std::vector<int32_t> seq = prompts[p];
    seq.insert(seq.end(), want.begin(), want.begin() + long(s));
    const int64_t T = int64_t(seq.size());
    m->forward(Tensor::from_ints(seq, {1, T}),
               Tensor::from_ints(std::vector<int32_t>(seq.size(), -100), {1, T}));
    const std::vector<float> logits = m->logits().to_floats();
    const auto row = logits.begin() + (T - 1) * m->config().vocab;
    const auto [lo, hi] = std::minmax_element(row, row + m->config().vocab);
    EXPECT_LE(margins[p][s], 2e-4 * double(*hi - *lo))
        << "prompt " << p << " parts from transformers at token " << s << " where its margin was "
        << margins[p][s];
  }
  std::printf("%zu of %zu prompts generated exactly transformers' tokens\n", identical,
              prompts.size());
  EXPECT_GE(identical, 20u);
}

}  // namespace
}  // namespace neft::model
