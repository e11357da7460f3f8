#include "train/scoring.h"

#include <optional>

#include "model/hf_checkpoint.h"
#include "neuron/trainable.h"
#include "optim/adamw.h"
#include "optim/clip.h"
#include "runtime/ops/cast.h"
#include "runtime/ops/elementwise.h"
#include "train/step_data.h"
#include "train/train_step.h"

namespace neft::train {

namespace {

// One plain gradient-descent step, w -= lr * clip * g, on every parameter.
void sgd_step(model::LlamaModel& model, float lr, float clip_scale) {
  for (Parameter* p : model.parameters()) {
    if (p->value.dtype() == DType::F32) {
      ops::axpy(-lr * clip_scale, p->grad, p->value);
      continue;
    }
    Tensor master = Tensor::empty(p->value.shape(), DType::F32, p->value.device());
    ops::cast(p->value, master);
    ops::axpy(-lr * clip_scale, p->grad, master);
    ops::cast(master, p->value);
  }
}

// The probe of the cosine scorer: full fine-tuning of every weight for `steps` steps at a
// constant learning rate, clipping at 1, on the task data. AdamW moves every weight by about
// the learning rate whatever its gradient, so the vectors it turns most are the shortest
// ones; plain gradient descent moves each in proportion to its gradient.
void run_probe(model::LlamaModel& model, data::BatchSource& source, const ParallelJob& job,
               const ScoreSpec& spec) {
  neuron::train_all(model);
  const StepGroups groups{job.dp(), job.pp()};
  std::optional<optim::AdamW> adamw;
  if (spec.probe_optimizer == "adamw") adamw.emplace(model.parameters(), optim::AdamWConfig{});
  for (int64_t step = 0; step < spec.probe_steps; ++step) {
    const std::vector<data::Batch> micro =
        draw_micro_batches(source, 1, job.dp_rank(), job.dp_size());
    if (adamw) {
      train_step(model, *adamw, micro, float(spec.probe_lr), 1.0f, groups);
      continue;
    }
    forward_backward(model, micro, groups);
    sgd_step(model, float(spec.probe_lr), optim::clip_factor(gradient_norm(model, groups), 1.0f));
  }
}

}  // namespace

neuron::LocalScores score_neurons(model::LlamaModel& model, const neuron::NeuronSpace& space,
                                  data::BatchSource& source, const ParallelJob& job,
                                  const ScoreSpec& spec, uint64_t seed) {
  const StepGroups groups{job.dp(), job.pp()};
  auto micro_batches = [&] {
    return draw_micro_batches(source, spec.score_batches, job.dp_rank(), job.dp_size());
  };
  switch (neuron::scorer_from_name(spec.scorer)) {
    case neuron::Scorer::Cosine: {
      const neuron::WeightSnapshot base = neuron::snapshot_weights(model, space);
      if (!spec.probe.empty()) {
        model::load_hf_weights(model, model::Checkpoint(spec.probe));
      } else {
        run_probe(model, source, job, spec);
      }
      const neuron::WeightSnapshot probe = neuron::snapshot_weights(model, space);
      neuron::restore_weights(model, base);
      return neuron::score_cosine(space, model, base, probe);
    }
    case neuron::Scorer::Attribution: {
      const std::vector<data::Batch> batches = micro_batches();
      return neuron::score_attribution(
          space, model, neuron::attribution_rule_from_name(spec.rule),
          [&] { forward_backward(model, batches, groups); }, job.dp());
    }
    case neuron::Scorer::Wgrad: {
      const std::vector<data::Batch> batches = micro_batches();
      return neuron::score_wgrad(space, model, [&] { forward_backward(model, batches, groups); });
    }
    case neuron::Scorer::Magnitude:
      return neuron::score_magnitude(space, model);
    case neuron::Scorer::Random:
      return neuron::score_random(space, model, seed);
  }
  fail("unknown scorer ", spec.scorer);
}

}  // namespace neft::train
