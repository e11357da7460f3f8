#include "launch/score.h"

#include <chrono>
#include <cstdio>
#include <optional>

#include "launch/model_setup.h"
#include "launch/parallel_job.h"
#include "launch/step_data.h"
#include "launch/train_step.h"
#include "model/hf_checkpoint.h"
#include "model/safetensors.h"
#include "neuron/neuron_set.h"
#include "neuron/scores.h"
#include "neuron/trainable.h"
#include "optim/adamw.h"
#include "optim/clip.h"
#include "runtime/ops/cast.h"
#include "runtime/ops/elementwise.h"

namespace neft::launch {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

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

neuron::LocalScores score_neurons(model::LlamaModel& model, const neuron::NeuronSpace& space,
                                  data::BatchSource& source, const ParallelJob& job,
                                  const ScoreOptions& o) {
  const ScoreSpec& spec = o.score;
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
      return neuron::score_random(space, model, o.seed);
  }
  fail("unknown scorer ", spec.scorer);
}

}  // namespace

int run_score(const ScoreOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const ParallelJob job = ParallelJob::start(o.parallelism, o.device);
  model::ModelOptions mopts{device_named(o.device), resolve_dtype(o.dtype, o.device), false};
  mopts.tp = job.tensor_parallel();
  mopts.pp_stage = job.pp_stage();
  mopts.pp_stages = job.pp_size();
  auto model = build_model({o.model, o.init}, mopts, o.seed);
  check_sequence_length(model->config(), o.seq_len);
  const neuron::NeuronSpace space(model->config(),
                                  neuron::NeuronKinds::parse(o.score.kinds, o.score.gate),
                                  job.tensor_parallel().size, job.pp_size());
  auto source = data::make_batch_source(data_spec(o.data, o.tasks), o.micro_batch, o.seq_len,
                                        o.seed, {int32_t(model->config().vocab), true});
  const neuron::LocalScores mine = score_neurons(*model, space, *source, job, o);
  auto [ids, values] = neuron::gather_to_first(mine.ids, mine.values, {job.tp(), job.pp()});
  if (job.writes_output()) {
    neuron::save_neuron_set(o.out, neuron::make_neuron_set(space, std::move(ids), std::move(values),
                                                           o.score.scorer, "all", ""));
    std::printf("scored %lld %s neurons of %s with %s in %.1f s; wrote %s\n",
                (long long)space.total_neurons(), space.kinds().str().c_str(),
                model->config().name.c_str(), o.score.scorer.c_str(), seconds_since(t0),
                o.out.c_str());
  }
  job.barrier();
  return 0;
}

int run_select(const SelectOptions& o) {
  const ParallelJob job = ParallelJob::start(o.parallelism, "cpu");
  const model::LlamaConfig config = model::resolve_config(o.model);
  const neuron::NeuronSet scores = neuron::load_neuron_set(o.scores);
  const neuron::NeuronSpace space =
      neuron::space_of(scores, config, job.tensor_parallel().size, job.pp_size(), o.scores);
  const neuron::LocalScores mine =
      neuron::local_scores(scores, space, job.tensor_parallel().rank, job.pp_stage(), o.scores);
  const neuron::Selection s =
      neuron::select_neurons(space, mine, neuron::Budget::parse(o.select.budget),
                             neuron::scope_from_name(o.select.scope), {job.tp(), job.pp()});
  auto [ids, values] = neuron::gather_to_first(s.ids, s.scores, {job.tp(), job.pp()});
  if (job.writes_output()) {
    neuron::save_neuron_set(
        o.out, neuron::make_neuron_set(space, std::move(ids), std::move(values), scores.scorer,
                                       o.select.budget, o.select.scope));
    const double model_params = double(config.parameter_count());
    std::printf(
        "selected %lld of %lld %s neurons (%lld parameters, %.2f%% of the model) by %s, %s "
        "scope; score retained %.4g (global ranking: %.4g); wrote %s\n",
        (long long)s.total_neurons, (long long)space.total_neurons(), space.kinds().str().c_str(),
        (long long)s.total_params, 100.0 * double(s.total_params) / model_params,
        scores.scorer.c_str(), o.select.scope.c_str(), s.score_retained, s.score_global,
        o.out.c_str());
  }
  job.barrier();
  return 0;
}

}  // namespace neft::launch
