// `neft finetune`: `neft score`, `neft select` and `neft train --neurons` in a row, each
// building its own job on the same ranks, with their files in --out.
#include <filesystem>

#include "launch/checkpoint_dir.h"
#include "launch/score.h"
#include "launch/train.h"

namespace fs = std::filesystem;

namespace neft::launch {

int run_finetune(const FinetuneOptions& o) {
  const TrainOptions& t = o.train;
  const fs::path out(t.out);
  const std::string scores = (out / "scores.safetensors").string();
  const std::string neurons = (out / "neurons.safetensors").string();
  const bool resuming = t.resume && find_latest_checkpoint(t.out) && fs::exists(neurons);
  if (!resuming) {
    if (find_latest_checkpoint(t.out))
      fail("--out ", t.out,
           " already holds a run: pass --resume to continue it, or choose "
           "another --out");
    fs::create_directories(out);
    ScoreOptions so;
    so.model = t.model;
    so.init = t.init;
    so.device = t.device;
    so.dtype = t.dtype;
    so.data = t.data;
    so.tasks = t.tasks;
    so.seq_len = t.seq_len;
    so.micro_batch = t.micro_batch;
    so.seed = t.seed;
    so.parallelism = t.parallelism;
    so.score = o.score;
    so.out = scores;
    run_score(so);
    run_select({scores, t.model, o.select, t.parallelism, neurons});
  }
  TrainOptions train = t;
  train.neurons = neurons;
  return run_train(train);
}

}  // namespace neft::launch
