// The final model on one process (tp 1; other layouts are tested under mpirun in
// tests/parallel/test_train_layouts.cpp): an HF directory, streamed tensor by tensor, in HF
// shards with their index when it exceeds one.
#include <gtest/gtest.h>

#include <filesystem>

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

TEST(LaunchDistributedCheckpoint, FinalModelStreamsIntoHfShardsWithTheirIndex) {
  TempDir dir;
  Trained a;
  // The largest tensor (the embedding, 64 x 128 f32) is 32 KiB: shards of 40 KiB hold one or
  // two tensors each, so the model spans several and the index maps every tensor.
  model::PlannedTensors planned;
  std::vector<Tensor> values;
  for (Parameter* p : a.model.parameters()) {
    planned.emplace_back(p->name,
                         model::TensorInfo{DType::F32, p->value.shape(), p->value.nbytes()});
    values.push_back(p->value);
  }
  size_t made = 0;
  model::save_hf_directory(
      a.model.config(), planned,
      [&](size_t i) {
        EXPECT_EQ(i, made++) << "tensors made out of order";
        return values[i];
      },
      "float32", dir.file("model"), "", 40 << 10);
  EXPECT_EQ(made, planned.size());
  EXPECT_TRUE(std::filesystem::exists(dir.file("model") + "/" + model::kSafetensorsIndexFile));
  const model::Checkpoint saved(dir.file("model"));
  for (Parameter* p : a.model.parameters())
    EXPECT_EQ(saved.read(p->name, DType::F32).to_floats(), p->value.to_floats()) << p->name;
}

}  // namespace
}  // namespace neft::train
