// `neft train` under mpirun, driven in process on every rank through the command line's entry
// point: at tp 2, pp 2 and dp = world (and tp 2 x pp 2, tp 2 x dp 2, pp 2 x dp 2 on four
// ranks), the losses of every step in metrics.jsonl, the evaluation (a pipeline's stages pass
// each batch on), the final weights and the checkpoint's optimizer state match a
// single-rank run over the same global batch (micro-batches x grad-accum x dp), which rank 0
// computes with the same building blocks while the others wait. Checkpoints are whole HF
// tensors in HF order whatever the layout: one taken at tp 2 or pp 2 loads in a one-rank model
// with the same loss, and a run stopped at one layout resumes at another with the losses of
// the uninterrupted run. `neft eval --tp 2` gathers the vocabulary-parallel logits it dumps.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "data/batch_source.h"
#include "data/synthetic.h"
#include "helpers.h"
#include "launch/cli.h"
#include "launch/options.h"
#include "model/hf_checkpoint.h"
#include "model/llama.h"
#include "model/safetensors.h"
#include "optim/adamw.h"
#include "train/distributed_checkpoint.h"
#include "train/evaluate.h"
#include "train/model_setup.h"
#include "train/sharded_checkpoint.h"
#include "train/train_step.h"
#include "train_run_helpers.h"

namespace neft::launch {
namespace {

namespace fs = std::filesystem;
using namespace testing;

constexpr int kSteps = 6;

// `neft train` at `layout` on this world, with the grad-accum that keeps the global batch at
// kGlobalMicroBatches.
std::vector<std::string> train_args(const std::string& out, Layout layout) {
  return with(layout_train_args(out, layout, kSteps),
              {"--save-every", "3", "--eval-examples", "4", "--log-every", "100"});
}

// The single-rank run of `args` (train_run_helpers.h), and its final evaluation.
struct Reference : SingleRankRun {
  std::vector<train::TaskScore> eval;
};

Reference train_reference(const TrainOptions& o) {
  Reference ref{train_single_rank(o, [&] {
    return train::build_model({o.model, o.init}, {}, o.seed);
  })};
  const data::SyntheticSuite suite(o.task_list(), o.seed);
  ref.eval =
      train::evaluate_synthetic(*ref.model, suite, o.eval_examples, o.micro_batch, o.seq_len);
  return ref;
}

// A model's loss on one fixed batch of the training stream.
double loss_on_a_batch(model::LlamaModel& m, const TrainOptions& o) {
  const data::Batch b =
      data::make_batch_source(o.data, 4, o.seq_len, o.seed + 1, {int32_t(m.config().vocab), true})
          ->next();
  const data::BatchTensors t = data::to_tensors(b, Device::CPU);
  const model::LossSums s = m.forward(t.tokens, t.targets, t.positions);
  return s.loss_sum / double(s.tokens);
}

// Within a small share of each tensor's largest element: the moments of weights whose
// gradients are sums that mostly cancel (q and k at initialisation, the norms) carry the
// rounding of other summation orders at 1e-4 of that; an element out of place would be off
// by the element's whole size.
void expect_state_matches(const model::NamedTensors& got, const model::NamedTensors& want,
                          const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first) << what;
    const auto g = got[i].second.to_floats(), w = want[i].second.to_floats();
    EXPECT_LE(max_abs_diff(g, w), 1e-3 * max_abs(w)) << what << ": " << want[i].first;
  }
}

class TrainLayouts : public ::testing::TestWithParam<Layout> {};

TEST_P(TrainLayouts, LossesWeightsAndCheckpointsMatchTheSingleRankRun) {
  const Layout layout = GetParam();
  const int tp = layout.tp;
  if (world_size() < 2 || !layout.fits())
    GTEST_SKIP() << layout.name() << " on " << world_size() << " ranks is not a layout tested here";
  SharedTempDir dir;
  const std::string out = dir.file("run");
  const std::vector<std::string> args = train_args(out, layout);
  neft(args);
  // Evaluation runs no pipeline: the saved model at the layout's tp.
  neft({"eval", "--model", out + "/model", "--tp", std::to_string(tp), "--examples", "2",
        "--micro-batch", "2", "--seq-len", "32", "--json", "--dump-logits",
        dir.file("logits.safetensors")});

  if (world_rank() == 0) {
    const TrainOptions o = options_of(args);
    Reference ref = train_reference(o);
    expect_same_losses(losses(out), ref.losses, layout.name());

    // The final evaluation (at tp > 1 its argmax runs over the vocabulary-parallel logits, at
    // pp > 1 on the last stage, which passes it to the others).
    const nlohmann::json eval = records(out).back();
    ASSERT_TRUE(eval.contains("eval")) << eval.dump();
    for (const train::TaskScore& s : ref.eval) {
      EXPECT_NEAR(eval["eval"][s.task]["loss"].get<double>(), s.loss, 1e-5 * s.loss) << s.task;
      EXPECT_EQ(eval["eval"][s.task]["accuracy"].get<double>(), s.accuracy) << s.task;
    }

    // The final model, an ordinary HF directory whatever the layout: every stage's tensors,
    // in HF order.
    const model::Checkpoint saved(out + "/model");
    std::vector<std::string> names;
    for (Parameter* p : ref.model->parameters()) names.push_back(p->name);
    EXPECT_EQ(saved.names(), names);
    // Within the element-wise bound of two AdamW runs whose gradients differ by rounding
    // (tests/adam_bound.h): the layout's shards sum in other orders.
    double worst = 0;
    for (Parameter* p : ref.model->parameters())
      worst = std::max(
          worst, neft::testing::expect_within(p->name, saved.read(p->name, DType::F32).to_floats(),
                                              p->value.to_floats(), ref.bound->allowed(*p)));
    std::printf("%s: largest difference / bound over the weights: %.3g\n", layout.name().c_str(),
                worst);

    // The last checkpoint, loaded into a one-rank model and optimizer: the same loss, and
    // the optimizer state of the single-rank run.
    const std::string checkpoint = out + "/checkpoints/step-00000006";
    auto loaded = train::build_model({o.model, checkpoint}, {}, o.seed);
    EXPECT_NEAR(loss_on_a_batch(*loaded, o), loss_on_a_batch(*ref.model, o), 1e-5);
    optim::AdamW optimizer(loaded->parameters(), {});
    // One file per rank of the replica that writes (dp 0), and an index of every tensor.
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(checkpoint))
      files += e.path().extension() == ".safetensors";
    EXPECT_EQ(files, layout.tp * layout.pp);
    train::restore_trainable_state(train::ShardedCheckpoint(checkpoint), *loaded, optimizer,
                                   kSteps);
    EXPECT_EQ(optimizer.steps_taken(), kSteps);
    expect_state_matches(optimizer.state(), ref.optimizer->state(), "optimizer state");

    // `neft eval --tp` dumped the whole vocabulary's logits, gathered from the shards.
    const model::SafetensorsFile dump(dir.file("logits.safetensors"));
    const Tensor tokens = dump.read("tokens", DType::I32),
                 positions = dump.read("positions", DType::I32);
    const Tensor ignore =
        Tensor::from_ints(std::vector<int32_t>(size_t(tokens.numel()), -100), tokens.shape());
    loaded->forward(tokens, ignore, positions);
    const auto dumped = dump.read("logits", DType::F32).to_floats();
    EXPECT_LE(max_abs_diff(dumped, loaded->logits().to_floats()), 1e-4);
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, TrainLayouts,
                         ::testing::Values(Layout{1, 1}, Layout{2, 1}, Layout{1, 2}, Layout{2, 2}),
                         [](const auto& info) { return info.param.name(); });

// Stopped after 3 of 6 steps at one layout and resumed at another (the dp and grad-accum
// change with it, the global batch does not): the losses of the run are those of the
// uninterrupted run at tp 2. A checkpoint taken at tp 2 loads at tp 1 and at pp 2, one taken
// at tp 1 loads at tp 2, one taken at pp 2 loads at tp 1.
TEST(TrainLayouts, ARunResumesAtAnotherLayout) {
  const Layout tp2{2, 1}, tp1{1, 1}, pp2{1, 2};
  if (world_size() < 2 || !tp2.fits() || !pp2.fits()) GTEST_SKIP() << "needs tp 2 and pp 2";
  SharedTempDir dir;
  const std::string whole = dir.file("whole");
  neft(train_args(whole, tp2));
  for (const auto& [first, second] :
       {std::pair{tp2, tp1}, std::pair{tp1, tp2}, std::pair{tp2, pp2}, std::pair{pp2, tp1}}) {
    const std::string out = dir.file("from-" + first.name() + "-to-" + second.name());
    neft(with(train_args(out, first), {"--stop-after", "3"}));
    neft(with(train_args(out, second), {"--resume"}));
    if (world_rank() == 0)
      expect_same_losses(losses(out), losses(whole), first.name() + " then " + second.name());
  }
}

}  // namespace
}  // namespace neft::launch
