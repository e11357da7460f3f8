// LoRA against Hugging Face PEFT (tests/golden/make_lora_fixture.py made the fixture): PEFT's
// saved adapter loads onto the fixture model, and logits, loss and every adapter gradient
// match PEFT's, with the base frozen (no gradient). An export reads back as it was written;
// the adapter merged into its base gives the adapter's logits; attaching starts as the base
// (B = 0) with A as PEFT draws it; bad configurations and files are one-line errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "lora/lora.h"
#include "lora/peft_format.h"
#include "model/hf_checkpoint.h"
#include "runtime/error.h"
#include "tests/adam_bound.h"
#include "tests/unit/error_of.h"
#include "tests/unit/model/golden_fixture.h"
#include "tests/unit/model/small_config.h"
#include "tests/unit/temp_dir.h"

namespace neft::lora {
namespace {

using testing::error_of;
using testing::fixture_dir;
using testing::relative_error;

const std::string kAdapter = fixture_dir("gqa_untied") + "/lora";

struct Loaded {
  std::unique_ptr<model::LlamaModel> model;
  PeftAdapter adapter;
};
Loaded fixture_with_adapter() {
  Loaded l{testing::load_fixture_model(fixture_dir("gqa_untied"), Device::CPU), {}};
  l.adapter = load_peft_adapter(kAdapter, &l.model->config());
  attach_lora(*l.model, l.adapter.config, 0);
  load_adapter_weights(*l.model, l.adapter, kAdapter);
  return l;
}

TEST(LoraGolden, LogitsLossAndAdapterGradientsMatchPeft) {
  Loaded l = fixture_with_adapter();
  EXPECT_EQ(l.adapter.config.rank, 4);
  EXPECT_EQ(l.adapter.config.alpha, 8);
  EXPECT_EQ(l.adapter.config.targets.size(), 7u);
  const model::SafetensorsFile golden(kAdapter + "/golden.safetensors");
  const model::SafetensorsFile inputs(fixture_dir("gqa_untied") + "/golden.safetensors");
  const Tensor tokens = inputs.read("tokens", DType::I32),
               targets = inputs.read("targets", DType::I32);
  model::LlamaModel& m = *l.model;
  m.zero_grad();
  const model::LossSums s = m.forward(tokens, targets);
  // The f32 golden tolerances of tests/unit/model/test_golden.cpp: the adapter adds two
  // rank-4 products per projection, far below the model's own sums in length.
  EXPECT_LT(relative_error(m.logits().to_floats(), golden.read("logits", DType::F32).to_floats()),
            2e-5);
  const double loss = s.loss_sum / double(s.tokens),
               want = golden.read("loss", DType::F32).to_floats()[0];
  EXPECT_NEAR(loss, want, 1e-5 * want);
  m.backward(1.0f / float(s.tokens));
  size_t adapters = 0;
  for (Parameter* p : m.parameters()) {
    if (p->name.find(".lora_") == std::string::npos) {
      EXPECT_FALSE(p->grad.defined()) << p->name << " is frozen";
      continue;
    }
    ++adapters;
    EXPECT_LT(
        relative_error(p->grad.to_floats(), golden.read("grad." + p->name, DType::F32).to_floats()),
        testing::kGradientTolerance)
        << p->name;
  }
  EXPECT_EQ(adapters, 2u * 7 * 2);  // A and B, 7 targets, 2 layers
}

TEST(LoraGolden, ExportReadsBackAndMergeGivesTheAdaptersLogits) {
  Loaded l = fixture_with_adapter();
  testing::TempDir dir;
  PeftAdapter out{l.adapter.config, {}};
  for (Parameter* p : lora_parameters(*l.model)) out.tensors.push_back({p->name, p->value.clone()});
  save_peft_adapter(dir.file("adapter"), out, "gqa_untied");
  const PeftAdapter back = load_peft_adapter(dir.file("adapter"), &l.model->config());
  ASSERT_EQ(back.tensors.size(), out.tensors.size());
  for (size_t i = 0; i < out.tensors.size(); ++i) {
    EXPECT_EQ(back.tensors[i].first, out.tensors[i].first);
    EXPECT_EQ(back.tensors[i].second.to_floats(), out.tensors[i].second.to_floats());
  }

  const Tensor tokens = Tensor::from_ints({3, 7, 1, 9, 4, 4, 2, 8}, {2, 4});
  l.model->forward(tokens, Tensor::from_ints(std::vector<int32_t>(8, 1), {2, 4}));
  const std::vector<float> adapted = l.model->logits().to_floats();
  // The base's weights with W += (alpha / r) B A.
  const model::Checkpoint base(fixture_dir("gqa_untied"));
  model::NamedTensors weights;
  for (const std::string& name : base.names())
    weights.push_back({name, base.read(name, DType::F32)});
  merge_into(weights, l.adapter);
  model::LlamaModel merged(l.model->config());
  for (const auto& [name, t] : weights) merged.parameter(name).value.copy_from(t);
  merged.forward(tokens, Tensor::from_ints(std::vector<int32_t>(8, 1), {2, 4}));
  // One rounding of W + s B A against the adapter's separate products: f32 epsilon times the
  // terms' size, far below 1e-5 of the logits' scale.
  EXPECT_LT(relative_error(merged.logits().to_floats(), adapted), 1e-5);
  EXPECT_GT(relative_error(
                adapted,
                [&] {
                  auto plain = testing::load_fixture_model(fixture_dir("gqa_untied"), Device::CPU);
                  plain->forward(tokens, Tensor::from_ints(std::vector<int32_t>(8, 1), {2, 4}));
                  return plain->logits().to_floats();
                }()),
            1e-3);  // the adapter changes the logits
}

TEST(Lora, AttachingStartsAsTheBaseWithPeftsInitialisation) {
  const model::LlamaConfig c = ::neft::testing::small_llama_config(false);
  model::LlamaModel m(c);
  m.init_random(3);
  LoraConfig config;
  config.rank = 2;
  config.targets = parse_targets("q,down");
  attach_lora(m, config, 7);
  const ParameterList params = lora_parameters(m);
  ASSERT_EQ(params.size(), size_t(c.layers) * 2 * 2);
  for (Parameter* p : params) {
    const std::vector<float> v = p->value.to_floats();
    if (p->name.find("lora_B") != std::string::npos) {
      EXPECT_EQ(v, std::vector<float>(v.size(), 0.0f)) << p->name;
      continue;
    }
    const double bound = 1.0 / std::sqrt(double(p->full_shape[1]));
    double largest = 0;
    for (float x : v) largest = std::max(largest, double(std::abs(x)));
    EXPECT_LE(largest, bound) << p->name;
    EXPECT_GT(largest, 0.5 * bound) << p->name;
  }
  for (Parameter* p : m.parameters())
    EXPECT_EQ(p->trainable, p->name.find(".lora_") != std::string::npos) << p->name;
  EXPECT_NE(params[0]->value.to_floats(), params[2]->value.to_floats());  // streams differ
}

TEST(Lora, BadConfigurationsAreOneLineErrors) {
  const model::LlamaConfig c = ::neft::testing::small_llama_config(false);
  auto error = [&](LoraConfig l) {
    try {
      check_config(l, c);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  LoraConfig l;
  l.rank = 0;
  EXPECT_NE(error(l).find("rank 0"), std::string::npos);
  l.rank = c.kv_dim() + 1;
  l.targets = {"k"};
  EXPECT_NE(error(l).find("must be between 1 and " + std::to_string(c.kv_dim())),
            std::string::npos);
  l.rank = 2;
  for (double p : {1.0, -0.1, std::nan("")}) {
    l.dropout = p;
    EXPECT_NE(error(l).find("lora: dropout"), std::string::npos) << p;
  }
  l.dropout = 0.1;
  EXPECT_EQ(error(l), "");
  EXPECT_THROW(parse_targets("q,lm_head"), Error);
  EXPECT_EQ(parse_targets("q_proj, v, q"), (std::vector<std::string>{"q", "v"}));
  EXPECT_EQ(parse_targets("all").size(), 7u);

  // A PEFT file with what neft does not compute.
  testing::TempDir dir;
  std::filesystem::copy(kAdapter, dir.file("a"));
  auto with_key = [&](const std::string& from, const std::string& to) {
    std::ifstream in(dir.file("a") + "/adapter_config.json");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text.replace(text.find(from), from.size(), to);
    std::ofstream(dir.file("a") + "/adapter_config.json") << text;
  };
  with_key("\"use_dora\": false", "\"use_dora\": true");
  try {
    load_peft_adapter(dir.file("a"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("adapter_config.json: key 'use_dora'"), std::string::npos)
        << e.what();
  }
  with_key("\"use_dora\": true", "\"use_dora\": false");
  // PEFT's dropout is read as trained (it changes nothing outside training), within [0, 1).
  with_key("\"lora_dropout\": 0.0", "\"lora_dropout\": 0.1");
  EXPECT_EQ(load_peft_adapter(dir.file("a")).config.dropout, 0.1);
  with_key("\"lora_dropout\": 0.1", "\"lora_dropout\": 1.5");
  const model::LlamaConfig fixture =
      testing::load_fixture_model(fixture_dir("gqa_untied"), Device::CPU)->config();
  EXPECT_NE(error_of([&] {
              load_peft_adapter(dir.file("a"), &fixture);
            }).find("adapter_config.json: lora: dropout 1.5"),
            std::string::npos);
  with_key("\"lora_dropout\": 1.5", "\"lora_dropout\": \"x\"");
  EXPECT_NE(error_of([&] {
              load_peft_adapter(dir.file("a"));
            }).find("adapter_config.json: key 'lora_dropout' must be a number"),
            std::string::npos);
  with_key("\"lora_dropout\": \"x\"", "\"lora_dropout\": 0.0");
  const model::LlamaConfig other = ::neft::testing::small_llama_config(true);
  EXPECT_THROW(load_peft_adapter(dir.file("a"), &other), Error);  // another model's shape
}

}  // namespace
}  // namespace neft::lora
