#include "launch/eval.h"

#include <cstdio>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "data/eval.h"
#include "data/sft.h"
#include "data/synthetic.h"
#include "model/hf_companion_files.h"
#include "model/safetensors.h"
#include "neuron/deactivation.h"
#include "neuron/delta.h"
#include "neuron/neuron_set.h"
#include "parallel/mappings.h"
#include "runtime/text.h"
#include "train/eval_report.h"
#include "train/evaluate.h"
#include "train/model_setup.h"
#include "train/parallel_job.h"

namespace neft::launch {

namespace {
// The first held-out batch with the logits this implementation computes for it, so another
// implementation can be run on the same tokens and positions and compared. Every rank of a
// tensor-parallel model calls it (the vocabulary's logits are gathered); `write` writes.
void dump_logits(model::LlamaModel& m, const data::SyntheticSuite& suite, const EvalOptions& o,
                 bool write) {
  data::Batch b =
      data::synthetic_eval_batches(suite, 0, o.micro_batch, o.micro_batch, o.seq_len).front();
  // One example per row from column 0, so its positions are 0..T-1; the padding after it
  // gets positions that go on counting rather than restarting at 0, which transformers
  // would read as the start of packed sequences and mask differently.
  for (int64_t i = 0; i < b.B * b.T; ++i) b.positions[size_t(i)] = int32_t(i % b.T);
  const Device d = m.options().device;
  const data::BatchTensors t = data::to_tensors(b, d);
  m.forward(t.tokens, t.targets, t.positions);
  Tensor all = m.logits();
  if (const model::TensorParallel& tp = m.options().tp; tp.size > 1) {
    all = Tensor::empty({m.logits().size(0), m.config().vocab}, m.logits().dtype(), d);
    parallel::gather_from_tp(m.logits(), all, *tp.comm);
  }
  if (!write) return;
  const Tensor logits = Tensor::from_floats(all.to_floats(), {b.B, b.T, m.config().vocab});
  model::save_safetensors(o.dump_logits,
                          {{"tokens", t.tokens}, {"positions", t.positions}, {"logits", logits}});
}
}  // namespace

std::unique_ptr<model::LlamaModel> build_eval_model(const EvalOptions& o,
                                                    const train::ParallelJob& job) {
  const train::ModelSource source{o.model, o.init};
  if (!train::has_pretrained_weights(source))
    fail("--model ", o.model, ": no weights to evaluate (give a model directory with ",
         "model.safetensors, or --init CHECKPOINT)");
  model::ModelOptions mopts{o.compute_device(), o.compute_dtype(), false};
  mopts.tp = job.tensor_parallel();
  mopts.pp_stage = job.pp_stage();
  mopts.pp_stages = job.pp_size();
  auto model = train::build_model(source, mopts, o.seed);
  train::check_sequence_length(model->config(), o.seq_len);
  return model;
}

std::vector<train::TaskScore> evaluate_held_out(model::LlamaModel& model, const EvalOptions& o,
                                                const train::ParallelJob& job) {
  if (o.data == "synthetic") {
    const data::SyntheticSuite suite(o.task_list(), o.seed);
    return train::evaluate_synthetic(model, suite, o.examples, o.micro_batch, o.seq_len,
                                     data::parse_held_out_split(o.split), job.pp());
  }
  const data::SftDataset held = data::load_sft_jsonl(
      o.data.substr(4), {int32_t(model.config().vocab), model::companion_source(o.model, o.init),
                         /*evaluation=*/true, split_list(o.tasks)});
  return train::evaluate_dataset(model, held, o.micro_batch, job.pp());
}

neuron::NeuronSpace deactivation_space(const neuron::NeuronSet& set, const std::string& path,
                                       const model::LlamaModel& model) {
  const model::ModelOptions& mo = model.options();
  return neuron::space_of(set, model.config(), mo.tp.size, mo.pp_stages, path);
}

int run_eval(const EvalOptions& o) {
  // Every rank evaluates (a tensor-parallel model needs its whole TP group); rank 0 prints.
  const train::ParallelJob job = train::ParallelJob::start(o.parallelism, o.device);
  auto model = build_eval_model(o, job);
  // Each rank writes the delta's rows of its own shard.
  if (!o.delta.empty()) neuron::apply_delta(*model, o.delta);
  std::optional<neuron::Deactivation> deactivation;
  if (!o.deactivate.empty()) {
    const neuron::NeuronSet set = neuron::load_neuron_set(o.deactivate);
    deactivation.emplace(*model, deactivation_space(set, o.deactivate, *model), set.ids);
  }
  if (!o.dump_logits.empty())
    dump_logits(*model, data::SyntheticSuite(o.task_list(), o.seed), o, job.writes_output());
  const std::vector<train::TaskScore> scores = evaluate_held_out(*model, o, job);
  if (!job.writes_output()) return 0;

  if (o.json) {
    nlohmann::json j = {{"model", o.model}, {"tasks", nlohmann::json::object()}};
    for (const train::TaskScore& s : scores) j["tasks"][s.task] = train::score_json(s);
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::cout << train::score_table(scores);
  return 0;
}

}  // namespace neft::launch
