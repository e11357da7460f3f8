#include "launch/neuron_options.h"

#include <memory>

#include "model/config.h"
#include "neuron/neuron_space.h"
#include "neuron/scorer.h"
#include "neuron/selection.h"

namespace neft::launch {

namespace {

using G = OptionGroup;

void add_score_spec(CommandOptions& t, ScoreSpec& s) {
  std::string scorers;
  for (const neuron::ScorerInfo& info : neuron::scorer_registry())
    scorers += (scorers.empty() ? "" : "; ") + std::string(info.name) + ": " + info.summary;
  t.add(G::training, "scorer", &s.scorer, "how neurons are ranked. " + scorers)
      .one_of(neuron::scorer_names());
  t.add(G::training, "kinds", &s.kinds,
        "neuron kinds: ffn (row j of up_proj + column j of down_proj), qo (row i of q_proj + "
        "column i of o_proj), kv (row i of k_proj + row i of v_proj), comma-separated, or all")
      .value_name("LIST")
      .not_empty();
  t.add_switch(G::training, "gate", &s.gate, "gate_proj's row j joins each ffn neuron");
  t.add(G::training, "probe", &s.probe,
        "cosine: a fine-tuned checkpoint of the same model to compare with; empty: run the "
        "probe here (--probe-steps of full fine-tuning on the task data)")
      .value_name("DIR");
  t.add(G::training, "probe-steps", &s.probe_steps, "cosine: full fine-tuning steps of the probe")
      .at_least(1);
  t.add(G::training, "probe-optimizer", &s.probe_optimizer,
        "cosine: the probe's optimizer. sgd moves each weight in proportion to its gradient; "
        "adamw (the paper's fine-tuning) moves every weight by about the learning rate, so the "
        "vectors it turns most are the shortest ones, whatever the task")
      .one_of({"sgd", "adamw"});
  t.add(G::training, "probe-lr", &s.probe_lr, "cosine: the probe's constant learning rate")
      .above(0);
  t.add(G::training, "score-batches", &s.score_batches,
        "attribution, wgrad: micro-batches of task data scored (per data-parallel rank)")
      .at_least(1);
  t.add(G::training, "rule", &s.rule,
        "attribution: token-abs sums |activation x gradient| over tokens (the default); "
        "abs-total takes |sum of activation x gradient|")
      .one_of({"token-abs", "abs-total"});
}

void add_select_spec(CommandOptions& t, SelectSpec& s) {
  t.add(G::training, "budget", &s.budget,
        "how much to train: N neurons, P% of the kinds' neurons, P%params of the model's "
        "parameters (the NeFT paper's unit), or lora:R (the parameters LoRA of rank R would "
        "train on the same matrices)")
      .value_name("BUDGET")
      .not_empty();
  t.add(G::training, "scope", &s.scope,
        "global: one ranking over every layer and kind (the paper); per-layer: each layer its "
        "share; balanced: each tensor-parallel rank and pipeline stage an equal share")
      .one_of({"global", "per-layer", "balanced"});
}

// The values a spec names are checked when parsed, so that a typo fails before any work.
void check_specs(const ScoreSpec& s, const SelectSpec* select) {
  neuron::NeuronKinds::parse(s.kinds, s.gate);
  if (select) neuron::Budget::parse(select->budget);
}

std::unique_ptr<CommandOptions> score_command_options(ScoreOptions& o) {
  auto table = std::make_unique<CommandOptions>(
      "score",
      "Scores every neuron of the chosen kinds for a task and writes the scores to --out (a "
      "neuron file: `neft select` takes a budget of them). Each rank scores the neurons it "
      "owns; under mpirun --tp/--pp split the model as training will.");
  CommandOptions& t = *table;
  t.add(G::model, "model", &o.model, "model preset or Hugging Face model directory")
      .value_name("NAME|DIR")
      .not_empty();
  add_model_options(t, &o.init, &o.device, &o.dtype);
  t.add(G::data, "data", &o.data, "the task data, as `neft train --data` takes it")
      .value_name("SPEC")
      .not_empty();
  t.add(G::data, "tasks", &o.tasks,
        "comma-separated tasks: synthetic ones, or the \"task\" names of sft data's lines; "
        "empty: all")
      .value_name("LIST");
  t.add(G::data, "seq-len", &o.seq_len, "tokens per sequence").at_least(1);
  add_packing_option(t, &o.packing);
  t.add(G::data, "micro-batch", &o.micro_batch, "sequences per forward/backward pass").at_least(1);
  t.add(G::data, "seed", &o.seed, "seed of the data order (and of random scores)");
  add_score_spec(t, o.score);
  add_parallel_options(t, &o.parallelism, /*pipeline=*/true);
  t.add(G::output, "out", &o.out, "the scores file (safetensors)").value_name("FILE").not_empty();
  return table;
}

void check_score(const CommandOptions& t, ScoreOptions& o) {
  check_device_and_dtype(t, o.device, o.dtype);
  check_parallel(t, o.parallelism, o.device);
  check_tasks(t, o.tasks);
  check_specs(o.score, nullptr);
}

std::unique_ptr<CommandOptions> select_command_options(SelectOptions& o) {
  auto table = std::make_unique<CommandOptions>(
      "select",
      "Selects the neurons to train from a scores file (`neft score`): the highest-scoring "
      "ones within --budget, ranked over --scope, found with small collectives when run under "
      "mpirun with the training's --tp/--pp. Writes a neuron file for `neft train --neurons`.");
  CommandOptions& t = *table;
  t.add(G::model, "scores", &o.scores, "scores file from `neft score`")
      .value_name("FILE")
      .not_empty();
  t.add(G::model, "model", &o.model,
        "the model the scores are for (preset or Hugging Face directory): budgets in "
        "parameters need its size")
      .value_name("NAME|DIR")
      .not_empty();
  add_select_spec(t, o.select);
  add_parallel_options(t, &o.parallelism, /*pipeline=*/true);
  t.add(G::output, "out", &o.out, "the neuron file (safetensors)").value_name("FILE").not_empty();
  return table;
}

void check_select(const CommandOptions& t, SelectOptions& o) {
  check_parallel(t, o.parallelism, "cpu");
  neuron::Budget::parse(o.select.budget);
}

std::unique_ptr<CommandOptions> finetune_command_options(FinetuneOptions& o) {
  auto table = std::make_unique<CommandOptions>(
      "finetune",
      "Neuron-level fine-tuning end to end: score the neurons of --kinds on the task data "
      "(--scorer; cosine runs a short full fine-tuning probe), select --budget of them over "
      "--scope, then train only those, evaluate, and write the sparse delta of the trained "
      "rows. Writes <out>/scores.safetensors, <out>/neurons.safetensors, the run as `neft "
      "train` writes it, and <out>/delta.safetensors (`neft merge` folds it into the base).");
  add_finetune_options(*table, o);
  return table;
}

}  // namespace

void add_finetune_options(CommandOptions& table, FinetuneOptions& o) {
  add_train_options(table, o.train);
  add_score_spec(table, o.score);
  add_select_spec(table, o.select);
}

void check_finetune(const CommandOptions& t, FinetuneOptions& o) {
  check_train(t, o.train, /*neuron_level=*/true);
  check_specs(o.score, &o.select);
}

std::optional<ScoreOptions> parse_score_options(const std::vector<std::string>& args,
                                                std::ostream& out) {
  return parse_command<ScoreOptions>(&score_command_options, &check_score, args, out);
}
std::optional<SelectOptions> parse_select_options(const std::vector<std::string>& args,
                                                  std::ostream& out) {
  return parse_command<SelectOptions>(&select_command_options, &check_select, args, out);
}
std::optional<FinetuneOptions> parse_finetune_options(const std::vector<std::string>& args,
                                                      std::ostream& out) {
  return parse_command<FinetuneOptions>(&finetune_command_options, &check_finetune, args, out);
}

}  // namespace neft::launch
