// `neft finetune`: `neft score`, `neft select` and `neft train --neurons` in a row, each
// building its own job on the same ranks, with their files in --out.
#include <filesystem>

#include "launch/score.h"
#include "model/config.h"
#include "neuron/neuron_space.h"
#include "neuron/selection.h"
#include "train/checkpoint_dir.h"
#include "train/model_setup.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace neft::launch {

namespace {

// Scores and selects (unless resuming), then trains the selection.
int score_select_train(const FinetuneOptions& o, bool resuming, const std::string& scores,
                       const std::string& neurons) {
  const TrainOptions& t = o.train;
  if (!resuming) {
    if (train::find_latest_checkpoint(t.out))
      fail("--out ", t.out,
           " already holds a run: pass --resume to continue it, or choose "
           "another --out");
    // What can be refused without scoring is refused before the probe runs or a file is
    // written: the sequence length and a budget too small for one neuron.
    const model::LlamaConfig config = model::resolve_config(t.model);
    train::check_sequence_length(config, t.seq_len);
    neuron::check_budget(
        neuron::NeuronSpace(config, neuron::NeuronKinds::parse(o.score.kinds, o.score.gate),
                            int(t.parallelism.tp), int(t.parallelism.pp)),
        neuron::Budget::parse(o.select.budget));
    ScoreOptions so;
    so.model = t.model;
    so.init = t.init;
    so.device = t.device;
    so.dtype = t.dtype;
    so.data = t.data;
    so.tasks = t.tasks;
    so.seq_len = t.seq_len;
    so.packing = t.packing;
    so.micro_batch = t.micro_batch;
    so.seed = t.seed;
    so.parallelism = t.parallelism;
    so.score = o.score;
    so.out = scores;
    run_score(so);
    run_select({scores, t.model, o.select, t.parallelism, neurons});
  }
  TrainOptions selected = t;
  selected.neurons = neurons;
  return train::run_training(selected);
}

}  // namespace

int run_finetune(const FinetuneOptions& o) {
  const fs::path out(o.train.out);
  const std::string scores = (out / "scores.safetensors").string();
  const std::string neurons = (out / "neurons.safetensors").string();
  const bool resuming =
      o.train.resume && train::find_latest_checkpoint(o.train.out) && fs::exists(neurons);
  // Scores and the selection are written before training starts. If training then fails
  // before its first step (which writes nothing: train/run_output.h), the --out this run
  // created is removed again, by whichever rank fails (the others may be ended before they
  // could), so that a refused run leaves nothing behind.
  const bool creates_out = !fs::exists(out);
  try {
    return score_select_train(o, resuming, scores, neurons);
  } catch (...) {
    std::error_code ec;
    if (creates_out && !fs::exists(o.train.metrics_path(), ec)) fs::remove_all(out, ec);
    throw;
  }
}

}  // namespace neft::launch
