// The Llama configuration: HF config.json in and out, presets, and the one-line errors for
// configs this implementation cannot train.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "runtime/error.h"
#include "tests/unit/temp_dir.h"

namespace neft::model {
namespace {

using ::neft::testing::read_text;
using ::neft::testing::TempDir;
using ::neft::testing::write_text;
using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// SmolLM2-135M's config.json as published, keys the loader ignores included.
const json kSmolLM2 = json::parse(R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 0, "eos_token_id": 0, "head_dim": 64, "hidden_act": "silu",
  "hidden_size": 576, "initializer_range": 0.041666666666666664, "intermediate_size": 1536,
  "is_llama_config": true, "max_position_embeddings": 8192, "mlp_bias": false,
  "model_type": "llama", "num_attention_heads": 9, "num_hidden_layers": 30,
  "num_key_value_heads": 3, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_interleaved": false, "rope_scaling": null, "rope_theta": 100000,
  "tie_word_embeddings": true, "torch_dtype": "bfloat16", "transformers_version": "4.40.1",
  "use_cache": true, "vocab_size": 49152})");

void expect_same_shapes(const LlamaConfig& a, const LlamaConfig& b) {
  EXPECT_EQ(a.hidden, b.hidden);
  EXPECT_EQ(a.intermediate, b.intermediate);
  EXPECT_EQ(a.layers, b.layers);
  EXPECT_EQ(a.heads, b.heads);
  EXPECT_EQ(a.kv_heads, b.kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.vocab, b.vocab);
  EXPECT_EQ(a.max_positions, b.max_positions);
  EXPECT_EQ(a.rms_eps, b.rms_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.tied_embeddings, b.tied_embeddings);
}

TEST(LlamaConfig, LoadsAPublishedConfigJson) {
  TempDir dir;
  write_text(dir.file("config.json"), kSmolLM2.dump(2));
  const LlamaConfig c = load_hf_config(dir.file("config.json"));
  EXPECT_EQ(c.name, dir.file("config.json"));
  expect_same_shapes(c, preset("smollm2-135m"));
  EXPECT_EQ(c.q_dim(), 576);
  EXPECT_EQ(c.kv_dim(), 192);
  // The published parameter count of SmolLM2-135M.
  EXPECT_EQ(c.parameter_count(), 134515008);
}

TEST(LlamaConfig, AbsentOptionalKeysTakeHfDefaults) {
  TempDir dir;
  json j = {{"hidden_size", 64},
            {"intermediate_size", 96},
            {"num_hidden_layers", 2},
            {"num_attention_heads", 4},
            {"vocab_size", 50}};
  write_text(dir.file("config.json"), j.dump());
  const LlamaConfig c = load_hf_config(dir.file("config.json"));
  EXPECT_EQ(c.kv_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.max_positions, 2048);
  EXPECT_EQ(c.rms_eps, 1e-6f);
  EXPECT_EQ(c.rope_theta, 10000.0f);
  EXPECT_FALSE(c.tied_embeddings);

  // An explicit head_dim may make the attention width differ from hidden (and null means
  // absent, as in HF).
  j["head_dim"] = 32;
  j["num_key_value_heads"] = nullptr;
  write_text(dir.file("config.json"), j.dump());
  const LlamaConfig wide = load_hf_config(dir.file("config.json"));
  EXPECT_EQ(wide.q_dim(), 128);
  EXPECT_EQ(wide.kv_heads, 4);
}

TEST(LlamaConfig, SavedConfigIsWhatTransformersLoadsAsLlama) {
  TempDir dir;
  const std::string path = dir.file("config.json");
  save_hf_config(preset("llama3-8b"), path, "bfloat16");
  const json j = json::parse(read_text(path));
  EXPECT_EQ(j["architectures"], json::array({"LlamaForCausalLM"}));
  EXPECT_EQ(j["model_type"], "llama");
  EXPECT_EQ(j["hidden_act"], "silu");
  EXPECT_EQ(j["attention_bias"], false);
  EXPECT_EQ(j["mlp_bias"], false);
  EXPECT_TRUE(j["rope_scaling"].is_null());
  EXPECT_EQ(j["head_dim"], 128);
  EXPECT_EQ(j["num_key_value_heads"], 8);
  EXPECT_EQ(j["torch_dtype"], "bfloat16");
  // Floats are written as the decimal they were given, as HF writes them.
  EXPECT_THAT(read_text(path), HasSubstr("\"rms_norm_eps\": 1e-05"));
  EXPECT_THAT(read_text(path), HasSubstr("\"rope_theta\": 500000.0"));
  EXPECT_EQ(dir.listing(), (std::set<std::string>{"config.json"}));
}

TEST(LlamaConfig, EveryPresetRoundTripsThroughConfigJson) {
  TempDir dir;
  for (const std::string& name : preset_names()) {
    SCOPED_TRACE(name);
    const LlamaConfig c = preset(name);
    EXPECT_EQ(c.name, name);
    c.validate(name);
    save_hf_config(c, dir.file(name + ".json"));
    expect_same_shapes(load_hf_config(dir.file(name + ".json")), c);
  }
}

TEST(LlamaConfig, PresetsHaveTheRealModelsShapes) {
  // Published parameter counts.
  EXPECT_EQ(preset("llama2-7b").parameter_count(), 6738415616);
  EXPECT_EQ(preset("llama3-8b").parameter_count(), 8030261248);
  EXPECT_EQ(preset("llama2-70b").parameter_count(), 68976648192);
  EXPECT_EQ(preset("llama-1b").parameter_count(), 1235814400);
  const int64_t small = preset("small-20m").parameter_count();
  EXPECT_GT(small, 20'000'000);
  EXPECT_LT(small, 22'000'000);
  const LlamaConfig tiny = preset("tiny");
  EXPECT_EQ(tiny.hidden, 128);
  EXPECT_EQ(tiny.kv_heads, 2);
  EXPECT_FALSE(tiny.tied_embeddings);
  EXPECT_TRUE(preset("tiny-tied").tied_embeddings);
  // Tying drops the head: one vocab x hidden matrix fewer.
  EXPECT_EQ(tiny.parameter_count() - preset("tiny-tied").parameter_count(), 64 * 128);
}

TEST(LlamaConfig, UnknownPresetListsTheKnownOnes) {
  EXPECT_THAT([] { preset("llama9-1t"); },
              ThrowsMessage<Error>(AllOf(HasSubstr("'llama9-1t'"), HasSubstr("tiny, tiny-tied"),
                                         HasSubstr("llama3-70b"))));
}

TEST(LlamaConfig, ResolvesPresetsDirectoriesAndFiles) {
  TempDir dir;
  EXPECT_EQ(resolve_config("tiny").name, "tiny");
  save_hf_config(preset("tiny-tied"), dir.file("config.json"));
  EXPECT_TRUE(resolve_config(dir.path()).tied_embeddings);
  EXPECT_EQ(resolve_config(dir.file("config.json")).name, dir.file("config.json"));
  EXPECT_THAT(
      [&] { resolve_config(dir.file("nothing-here")); },
      ThrowsMessage<Error>(AllOf(HasSubstr(dir.file("nothing-here")), HasSubstr("preset"))));
  TempDir empty;
  EXPECT_THAT([&] { resolve_config(empty.path()); },
              ThrowsMessage<Error>(
                  HasSubstr(empty.path().string() + ": model directory has no config.json")));
}

TEST(LlamaConfig, MissingFileNamesIt) {
  TempDir dir;
  EXPECT_THAT([&] { load_hf_config(dir.file("config.json")); },
              ThrowsMessage<Error>(HasSubstr("cannot open " + dir.file("config.json"))));
}

// transformers >= 5 moves rope_theta into "rope_parameters" (and torch_dtype to "dtype").
TEST(LlamaConfig, ReadsRopeThetaFromRopeParameters) {
  TempDir dir;
  json j = kSmolLM2;
  j.erase("rope_theta");
  j.erase("torch_dtype");
  j["dtype"] = "bfloat16";
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 500000.0}};
  write_text(dir.file("config.json"), j.dump(2));
  EXPECT_EQ(load_hf_config(dir.file("config.json")).rope_theta, 500000.0f);
}

TEST(LlamaConfig, InvalidJsonNamesTheFileAndThePosition) {
  TempDir dir;
  write_text(dir.file("config.json"), "{\n  \"hidden_size\": 64,\n  \"vocab_size\" 50\n}");
  EXPECT_THAT([&] { load_hf_config(dir.file("config.json")); },
              ThrowsMessage<Error>(AllOf(HasSubstr(dir.file("config.json") + ":3: "),
                                         HasSubstr("invalid JSON: syntax error"))));
}

// A valid config with one change (a null removes the key), and what the error must say.
struct BadConfig {
  const char* what;
  json patch;
  std::vector<std::string> message;
};

class LlamaConfigErrors : public ::testing::TestWithParam<BadConfig> {};

TEST_P(LlamaConfigErrors, NameTheFileAndTheProblem) {
  TempDir dir;
  const std::string path = dir.file("config.json");
  json j = kSmolLM2;
  j.merge_patch(GetParam().patch);
  write_text(path, j.dump(2));
  try {
    load_hf_config(path);
    FAIL() << "loaded a config with " << GetParam().what;
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_THAT(message, HasSubstr(path + ": "));
    for (const std::string& part : GetParam().message) EXPECT_THAT(message, HasSubstr(part));
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Config, LlamaConfigErrors,
    ::testing::Values(
        BadConfig{
            "a missing key", {{"vocab_size", nullptr}}, {"missing required key 'vocab_size'"}},
        BadConfig{"a string size",
                  {{"hidden_size", "576"}},
                  {"'hidden_size' must be an integer", "\"576\""}},
        BadConfig{"a fractional size", {{"num_hidden_layers", 2.5}}, {"'num_hidden_layers'"}},
        BadConfig{"a string flag", {{"tie_word_embeddings", "yes"}}, {"'tie_word_embeddings'"}},
        BadConfig{"a zero size", {{"intermediate_size", 0}}, {"intermediate_size", "positive"}},
        BadConfig{"heads not divisible by kv heads",
                  {{"num_key_value_heads", 4}},
                  {"num_attention_heads 9 is not divisible by num_key_value_heads 4"}},
        BadConfig{"hidden not divisible by heads",
                  {{"head_dim", nullptr}, {"hidden_size", 580}},
                  {"hidden_size 580 is not divisible by num_attention_heads 9"}},
        BadConfig{"an odd head_dim", {{"head_dim", 63}}, {"head_dim 63 must be even"}},
        BadConfig{"a zero epsilon", {{"rms_norm_eps", 0}}, {"rms_norm_eps"}},
        BadConfig{"a negative rope theta", {{"rope_theta", -1}}, {"rope_theta"}},
        BadConfig{
            "another activation", {{"hidden_act", "gelu"}}, {"hidden_act 'gelu' is not supported"}},
        BadConfig{"attention biases",
                  {{"attention_bias", true}},
                  {"attention_bias true is not supported"}},
        BadConfig{"MLP biases", {{"mlp_bias", true}}, {"mlp_bias true is not supported"}},
        BadConfig{"rope scaling",
                  {{"rope_scaling", {{"rope_type", "llama3"}, {"factor", 32.0}}}},
                  {"rope_scaling", "not supported"}},
        BadConfig{"a scaled rope_parameters",
                  {{"rope_parameters", {{"rope_type", "llama3"}, {"rope_theta", 5e5}}}},
                  {"rope_parameters: rope_type 'llama3' is not supported"}},
        BadConfig{"another architecture",
                  {{"model_type", "mistral"}},
                  {"model_type 'mistral' is not supported"}}),
    [](const ::testing::TestParamInfo<BadConfig>& info) {
      std::string name;
      for (const char* c = info.param.what; *c; ++c) name += std::isalnum(*c) ? *c : '_';
      return name;
    });

TEST(LlamaConfig, DuplicateKeysAreAnError) {
  TempDir dir;
  const std::string path = dir.file("config.json");
  write_text(path, R"({"hidden_size": 64, "hidden_size": 128})");
  EXPECT_THAT(
      [&] { load_hf_config(path); },
      ThrowsMessage<Error>(HasSubstr(path + ": invalid JSON: duplicate key 'hidden_size'")));
}

}  // namespace
}  // namespace neft::model
