#include "train/scoring.h"

#include <optional>

#include "model/hf_checkpoint.h"
#include "neuron/scorer.h"
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
  const std::unique_ptr<neuron::Scorer> scorer = neuron::find_scorer(spec.scorer).make();
  const StepGroups groups{job.dp(), job.pp()};
  std::vector<data::Batch> batches;  // drawn on first use: only scorers that read data draw
  neuron::ScoringContext context{space, model};
  context.passes = [&] {
    if (batches.empty())
      batches = draw_micro_batches(source, spec.score_batches, job.dp_rank(), job.dp_size());
    forward_backward(model, batches, groups);
  };
  context.probe = [&] {
    if (!spec.probe.empty())
      model::load_hf_weights(model, model::Checkpoint(spec.probe));
    else
      run_probe(model, source, job, spec);
  };
  context.dp = job.dp();
  context.seed = seed;
  context.rule = neuron::attribution_rule_from_name(spec.rule);
  return scorer->score(context);
}

}  // namespace neft::train
