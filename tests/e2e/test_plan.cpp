// `neft plan` and `neft train --num-layers` end to end, through the command line: the plan's
// JSON for the shapes the README quotes (Llama-2-70B on 8 x 80 GB: neuron-level fits, full
// fine-tuning needs more GPUs, the distributed optimizer's 6 + 12/dp bytes a parameter), a
// neuron file counted where its neurons sit, one-line errors naming the option; and a model
// trained with only its first layers, or refused when its weights hold another number.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "neuron/neuron_set.h"
#include "tests/e2e/cli_run.h"
#include "tests/unit/jsonl.h"
#include "tests/unit/temp_dir.h"

namespace neft::launch {
namespace {

using ::neft::testing::TempDir;
using namespace ::neft::launch::testing;
using ::testing::HasSubstr;

nlohmann::json plan_json(const std::vector<std::string>& args) {
  const Result r = neft(with({"plan", "--json"}, args));
  EXPECT_EQ(r.status, 0) << r.err;
  return r.status == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
}

const std::vector<std::string> k70b = {"--model", "llama2-70b",    "--seq-len",
                                       "4096",    "--micro-batch", "1"};

TEST(Plan, NeuronLevelLlama2_70bFitsEightGpusAndFullFineTuningDoesNot) {
  const nlohmann::json neft = plan_json(with(k70b, {"--tp", "8", "--neurons", "5%params"}));
  EXPECT_TRUE(neft["fits"].get<bool>()) << neft.dump();
  EXPECT_EQ(neft["layout"]["nodes"].get<int>(), 1);
  // 5% of the parameters as FFN neurons of 2 x 8192 parameters each, 16 bytes of state a
  // trained parameter on every rank's share.
  const int64_t neurons = neft["trained_neurons"].get<int64_t>();
  EXPECT_EQ(neurons,
            int64_t(std::floor(0.05 * double(neft["parameters"].get<int64_t>()))) / (2 * 8192));
  for (const nlohmann::json& r : neft["ranks"]) {
    const nlohmann::json& m = r["memory"];
    EXPECT_EQ(
        m["master"].get<int64_t>() + m["moments"].get<int64_t>() + m["gradients"].get<int64_t>(),
        16 * r["trained_parameters"].get<int64_t>());
  }

  EXPECT_FALSE(plan_json(with(k70b, {"--tp", "8"}))["fits"].get<bool>());
  EXPECT_FALSE(plan_json(with(k70b, {"--tp", "8", "--pp", "2"}))["fits"].get<bool>());
  EXPECT_TRUE(plan_json(with(k70b, {"--tp", "8", "--pp", "3"}))["fits"].get<bool>());
}

TEST(Plan, TheDistributedOptimizerHoldsSixPlusTwelveOverDpBytesAParameter) {
  for (const char* nodes : {"2", "4"}) {
    const nlohmann::json p = plan_json(
        with(k70b, {"--tp", "8", "--pp", "2", "--nodes", nodes, "--distributed-optimizer"}));
    const double dp = p["layout"]["dp"].get<double>();
    EXPECT_TRUE(p["step"]["distributed_optimizer"].get<bool>());
    for (const nlohmann::json& r : p["ranks"]) {
      const nlohmann::json& m = r["memory"];
      const double state = double(m["weights"].get<int64_t>() + m["gradients"].get<int64_t>() +
                                  m["master"].get<int64_t>() + m["moments"].get<int64_t>());
      // bf16 weight 2 + f32 gradient 4, f32 master 4 and moments 8 split over dp (rounded up).
      EXPECT_NEAR(state / r["trained_parameters"].get<double>(), 6 + 12 / dp, 1e-6) << nodes;
    }
  }
}

TEST(Plan, CountsANeuronFileWhereItsNeuronsSit) {
  TempDir dir;
  const model::LlamaConfig tiny = model::resolve_config("tiny");
  const neuron::NeuronSpace space(tiny, neuron::NeuronKinds::parse("ffn"));
  // Units below a quarter of each layer: all on tp rank 0 of 2.
  std::vector<neuron::NeuronId> ids;
  for (int64_t layer = 0; layer < tiny.layers; ++layer)
    for (int64_t i = 0; i < tiny.intermediate / 4; i += 3)
      ids.push_back(neuron::make_id(layer, neuron::NeuronKind::Ffn, i));
  const std::string file = dir.file("set.safetensors");
  neuron::save_neuron_set(file, neuron::make_neuron_set(space, ids, std::vector<float>(ids.size()),
                                                        "test", "test", ""));
  const nlohmann::json p = plan_json({"--model", "tiny", "--gpu", "cpu", "--tp", "2", "--neurons",
                                      file, "--seq-len", "32", "--micro-batch", "2"});
  ASSERT_EQ(p["ranks"].size(), 2u);
  EXPECT_EQ(p["ranks"][0]["trained_parameters"].get<int64_t>(),
            int64_t(ids.size()) * 2 * tiny.hidden);
  EXPECT_EQ(p["ranks"][1]["trained_parameters"].get<int64_t>(), 0);
  EXPECT_EQ(p["most_loaded"]["tp"].get<int>(), 0);
}

TEST(Plan, PrintsATablePerStageAndSaysWhatIsModelled) {
  const Result r = neft(with({"plan"}, with(k70b, {"--tp", "8", "--pp", "2", "--neurons",
                                                   "5%params", "--sequence-parallel"})));
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* part : {"stage 0", "stage 1", "layers 0-39", "layers 40-79", "weights",
                           "Adam moments", "activations", "communication buffers", "fits: yes",
                           "--sequence-parallel: 512 tokens a rank", "tokens/s per GPU"})
    EXPECT_THAT(r.out, HasSubstr(part));
  // Sequence parallelism and the distributed optimizer are neft train's: only the step time
  // is modelled.
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("modelled only")));
  const Result d = neft(with(
      {"plan"}, with(k70b, {"--tp", "8", "--pp", "2", "--nodes", "4", "--distributed-optimizer"})));
  ASSERT_EQ(d.status, 0) << d.err;
  EXPECT_THAT(d.out, HasSubstr("optimizer: master copies and moments split over the 2 "
                               "data-parallel ranks (--distributed-optimizer)"));
  EXPECT_THAT(d.out, ::testing::Not(HasSubstr("modelled only")));
}

// At 70B's width the norm and residual regions are most of a rank's activations at tp 8: they
// fall by 7/8 under sequence parallelism, while the bytes sent per block grow by half (the
// column-parallel layers' inputs gathered again in backward).
TEST(Plan, SequenceParallelismSplitsTheNormAndResidualActivations) {
  const std::vector<std::string> layout = with(k70b, {"--tp", "8", "--neurons", "5%params"});
  const nlohmann::json tp = plan_json(layout);
  const nlohmann::json sp = plan_json(with(layout, {"--sequence-parallel"}));
  EXPECT_TRUE(sp["step"]["sequence_parallel"].get<bool>());
  const int64_t without = tp["ranks"][0]["memory"]["activations"].get<int64_t>();
  const int64_t with_sp = sp["ranks"][0]["memory"]["activations"].get<int64_t>();
  // Per layer: n1, mid, n2 and the block's input, [4096, 8192] bf16 each, 7/8 of them gone,
  // and their two f32 rstd rows; once: dresidual, dn and the last block's output, and the
  // final norm's rstd.
  const int64_t N = 4096, C = 8192, layers = 80;
  const int64_t saved = layers * (4 * N * C * 2 + 2 * N * 4) + 3 * N * C * 2 + N * 4;
  EXPECT_EQ(without - with_sp, saved - saved / 8);
  EXPECT_GT(sp["ranks"][0]["tp_bytes_per_step"].get<int64_t>(),
            tp["ranks"][0]["tp_bytes_per_step"].get<int64_t>());
  // At tp 1 there is nothing to split: the same plan.
  EXPECT_EQ(plan_json(with(k70b, {"--sequence-parallel", "--neurons", "5%params"}))["ranks"],
            plan_json(with(k70b, {"--neurons", "5%params"}))["ranks"]);
}

TEST(Plan, AMistakeIsOneLineNamingTheOption) {
  expect_one_line_error(neft({"plan", "--model", "tiny", "--tp", "3"}), {"tp 3", "divide"});
  expect_one_line_error(neft({"plan", "--model", "tiny", "--neurons", "five"}),
                        {"--neurons", "five"});
  expect_one_line_error(
      neft({"plan", "--model", "llama2-70b", "--tp", "8", "--pp", "3", "--nodes", "2"}),
      {"--nodes", "tp x pp = 24"});
  expect_one_line_error(neft({"plan", "--model", "tiny", "--dp", "2", "--nodes", "1"}), {"--dp"});
  expect_one_line_error(neft({"plan", "--model", "tiny", "--gpu", "tpu"}), {"--gpu", "tpu"});
  expect_one_line_error(neft({"plan", "--tp", "2"}), {"--model"});
  expect_one_line_error(neft({"plan", "--model", "tiny", "--tp", "2", "--sequence-parallel",
                              "--micro-batch", "1", "--seq-len", "33"}),
                        {"--micro-batch", "1 x 33", "--tp 2"});
}

TEST(TrainNumLayers, BuildsTheFirstLayersOnlyAndRefusesWeightsOfAnotherDepth) {
  TempDir dir;
  const std::vector<std::string> run = {"--steps",       "1",  "--seq-len",       "32",
                                        "--micro-batch", "2",  "--eval-examples", "2",
                                        "--log-every",   "100"};
  const Result r =
      neft(with({"train", "--model", "tiny", "--num-layers", "2", "--out", dir.file("two")}, run));
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json config = nlohmann::json::parse(
      std::ifstream(dir.file("two") + "/model/config.json"), nullptr, true, true);
  EXPECT_EQ(config["num_hidden_layers"].get<int>(), 2);
  model::LlamaConfig two = model::resolve_config("tiny");
  two.layers = 2;
  bool found = false;
  for (const nlohmann::json& record : ::neft::testing::read_jsonl(dir.file("two/metrics.jsonl")))
    if (record.contains("ranks")) {
      found = true;
      EXPECT_EQ(record["ranks"][0]["trained_parameters"].get<int64_t>(), two.parameter_count());
    }
  EXPECT_TRUE(found);

  // The 2-layer model's weights load at 2 layers, and are refused at 1.
  EXPECT_EQ(neft(with({"train", "--model", "tiny", "--init", dir.file("two/model"), "--num-layers",
                       "2", "--out", dir.file("again")},
                      run))
                .status,
            0);
  expect_one_line_error(neft(with({"train", "--model", "tiny", "--init", dir.file("two/model"),
                                   "--num-layers", "1", "--out", dir.file("one")},
                                  run)),
                        {"--num-layers 1", "hold 2 layers"});
}

}  // namespace
}  // namespace neft::launch
