#include "launch/score.h"

#include <chrono>
#include <cstdio>

#include "model/config.h"
#include "neuron/neuron_set.h"
#include "neuron/scores.h"
#include "neuron/selection.h"
#include "train/model_setup.h"
#include "train/parallel_job.h"
#include "train/progress.h"
#include "train/scoring.h"
#include "train/step_data.h"

namespace neft::launch {

int run_score(const ScoreOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const train::ParallelJob job = train::ParallelJob::start(o.parallelism, o.device);
  model::ModelOptions mopts{device_named(o.device), resolve_dtype(o.dtype, o.device), false};
  mopts.tp = job.tensor_parallel();
  mopts.pp_stage = job.pp_stage();
  mopts.pp_stages = job.pp_size();
  auto model = train::build_model({o.model, o.init}, mopts, o.seed);
  train::check_sequence_length(model->config(), o.seq_len);
  const neuron::NeuronSpace space(model->config(),
                                  neuron::NeuronKinds::parse(o.score.kinds, o.score.gate),
                                  job.tensor_parallel().size, job.pp_size());
  auto source = train::task_batch_source({o.data, o.tasks, o.packing, o.model, o.init},
                                         o.micro_batch, o.seq_len, o.seed, model->config().vocab);
  const neuron::LocalScores mine =
      train::score_neurons(*model, space, *source, job, o.score, o.seed);
  auto [ids, values] = neuron::gather_to_first(mine.ids, mine.values, {job.tp(), job.pp()});
  if (job.writes_output()) {
    neuron::save_neuron_set(o.out, neuron::make_neuron_set(space, std::move(ids), std::move(values),
                                                           o.score.scorer, "all", ""));
    std::printf("scored %lld %s neurons of %s with %s in %.1f s; wrote %s\n",
                (long long)space.total_neurons(), space.kinds().str().c_str(),
                model->config().name.c_str(), o.score.scorer.c_str(), train::seconds_since(t0),
                o.out.c_str());
  }
  job.barrier();
  return 0;
}

int run_select(const SelectOptions& o) {
  const train::ParallelJob job = train::ParallelJob::start(o.parallelism, "cpu");
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
