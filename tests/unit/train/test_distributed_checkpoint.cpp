// Layout-independent checkpoints on one process (tp 1; other layouts are tested under mpirun
// in tests/parallel/test_train_layouts.cpp): the optimizer state written as whole named
// tensors reads back exactly, the final model is an HF directory, and an optimizer file
// that does not fit the model is a one-line error naming the file and the tensor.
#include <gtest/gtest.h>

#include "model/config.h"
#include "model/hf_checkpoint.h"
#include "runtime/error.h"
#include "tests/unit/temp_dir.h"
#include "train/distributed_checkpoint.h"

namespace neft::train {
namespace {

using ::neft::testing::TempDir;

model::LlamaConfig small_config() {
  model::LlamaConfig c = model::preset("tiny");
  c.layers = 1;
  return c;
}

// A model and an optimizer that has taken one step, so its moments are not zero.
struct Trained {
  model::LlamaModel model{small_config()};
  optim::AdamW optimizer{model.parameters(), {}};
  Trained() {
    model.init_random(3);
    model.zero_grad();
    float v = 0.5f;
    for (Parameter* p : model.parameters()) {
      p->grad =
          Tensor::from_floats(std::vector<float>(size_t(p->value.numel()), v), p->value.shape());
      v = -v * 0.9f;
    }
    optimizer.step(1e-2f);
  }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(LaunchDistributedCheckpoint, OptimizerStateReadsBackExactly) {
  TempDir dir;
  Trained a;
  const std::string path = dir.file("optimizer.safetensors");
  model::save_safetensors(path, gather_optimizer_state(a.model, a.optimizer));

  model::LlamaModel model(small_config());
  optim::AdamW optimizer(model.parameters(), {});
  load_optimizer_state(model, optimizer, path, 7);
  EXPECT_EQ(optimizer.steps_taken(), 7);
  const auto want = a.optimizer.state(), got = optimizer.state();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first);
    EXPECT_EQ(got[i].second.to_floats(), want[i].second.to_floats()) << want[i].first;
  }
}

TEST(LaunchDistributedCheckpoint, FinalModelIsAnHfDirectory) {
  TempDir dir;
  Trained a;
  save_model(a.model, dir.file("model"), /*write=*/true);
  const model::Checkpoint saved(dir.file("model"));
  for (Parameter* p : a.model.parameters())
    EXPECT_EQ(saved.read(p->name, DType::F32).to_floats(), p->value.to_floats()) << p->name;
  EXPECT_TRUE(model::has_hf_weights(dir.file("model")));
  // A rank that does not write leaves nothing behind.
  save_model(a.model, dir.file("other"), /*write=*/false);
  EXPECT_FALSE(std::filesystem::exists(dir.file("other")));
}

TEST(LaunchDistributedCheckpoint, OptimizerFileThatDoesNotFitIsAOneLineError) {
  TempDir dir;
  Trained a;
  model::NamedTensors state = gather_optimizer_state(a.model, a.optimizer);
  const std::string missing = dir.file("missing.safetensors");
  model::save_safetensors(missing, {state.begin() + 1, state.end()});
  EXPECT_EQ(error_of([&] { load_optimizer_state(a.model, a.optimizer, missing, 1); }),
            missing + ": optimizer state: missing tensor 'model.embed_tokens.weight.exp_avg'");

  const std::string reshaped = dir.file("reshaped.safetensors");
  state[0].second = Tensor::zeros({3, 5}, DType::F32);
  model::save_safetensors(reshaped, state);
  EXPECT_EQ(error_of([&] { load_optimizer_state(a.model, a.optimizer, reshaped, 1); }),
            reshaped +
                ": tensor 'model.embed_tokens.weight.exp_avg' has shape [3, 5], the model "
                "expects [64, 128]");
}

}  // namespace
}  // namespace neft::train
