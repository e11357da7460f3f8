// `neft analyze deactivate`: the task-specific-neurons paper's deactivation table. The model
// is evaluated as it is, with the set's neurons zeroed, and with each of --random-sets random
// sets of the same size and kinds zeroed (neuron/deactivation.h); the random sets give the
// mean ± sd that the set's effect is read against.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "data/permutation.h"
#include "launch/analyze.h"
#include "launch/eval.h"
#include "launch/report.h"
#include "neuron/deactivation.h"
#include "neuron/neuron_set.h"
#include "train/eval_report.h"
#include "train/metrics_log.h"
#include "train/progress.h"

namespace neft::launch {

namespace {

using G = OptionGroup;

std::unique_ptr<CommandOptions> deactivate_command_options(DeactivateOptions& o) {
  auto table = std::make_unique<CommandOptions>(
      "analyze deactivate",
      "Zeroes the outputs of a neuron set's neurons (an ffn unit's activation, a qo unit's "
      "attention output, a kv unit's key and value) and evaluates the model, as the "
      "task-specific-neurons paper does: once as it is, once with the set zeroed, and once with "
      "each of --random-sets random sets of the same size zeroed, drawn with as many neurons of "
      "each kind (or of each layer and kind: --random-match layer). Prints loss and accuracy "
      "per task, the random sets as mean ± sample sd. Runs under mpirun with --tp like `neft "
      "eval`.");
  add_eval_options(*table, o.eval);
  CommandOptions& t = *table;
  t.add(G::model, "neurons", &o.neurons, "the neuron-set file whose neurons are zeroed")
      .value_name("FILE");
  t.add(G::evaluation, "random-sets", &o.random_sets,
        "random sets of the same size to compare with (0: none)")
      .at_least(0);
  t.add(G::evaluation, "random-match", &o.random_match,
        "what each random set matches: kind (as many neurons of each kind as the set, from any "
        "layer) or layer (as many of each layer and kind)")
      .one_of({"kind", "layer"});
  t.add(G::evaluation, "random-seed", &o.random_seed, "seed of the random sets' draws");
  t.add(G::output, "out", &o.out,
        "also write every evaluation as one JSON line per task to this file")
      .value_name("FILE");
  return table;
}

void check_deactivate(const CommandOptions& table, DeactivateOptions& o) {
  check_eval(table, o.eval);
  if (o.neurons.empty()) fail("missing --neurons (a neuron-set file); ", table.help_hint());
}

// One evaluation: which neurons were zeroed and the scores per task.
struct Condition {
  std::string name;  // none | set | random
  int64_t index = 0;
  int64_t neurons = 0;
  std::vector<train::TaskScore> scores;
};

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

// "0.123 ± 0.004" for several values, "0.123" for one.
std::string cell(const std::vector<double>& values, const char* f, double scale) {
  const MeanSd m = mean_sd(values);
  std::string s = fmt(f, m.mean * scale);
  if (m.n > 1) s += " ± " + fmt(f, m.sd * scale);
  return s;
}

std::string deactivation_table(const std::vector<Condition>& runs, const std::string& set_name) {
  const bool choices = !runs.empty() && !runs[0].scores.empty() && runs[0].scores[0].choice_items;
  std::string out = "| zeroed | neurons | task | loss | exact |";
  out += choices ? " acc |\n|---|---:|---|---:|---:|---:|\n" : "\n|---|---:|---|---:|---:|\n";
  const size_t tasks = runs.empty() ? 0 : runs[0].scores.size();
  for (size_t t = 0; t < tasks; ++t)
    for (const char* name : {"none", "set", "random"}) {
      std::vector<double> loss, exact, acc;
      int64_t neurons = 0;
      for (const Condition& c : runs)
        if (c.name == name) {
          loss.push_back(c.scores[t].loss);
          exact.push_back(c.scores[t].accuracy);
          acc.push_back(c.scores[t].choice_accuracy);
          neurons = c.neurons;
        }
      if (loss.empty()) continue;
      const std::string label = std::string(name) == "set" ? set_name
                                : std::string(name) == "random"
                                    ? "random (" + std::to_string(loss.size()) + " sets)"
                                    : "none";
      out += "| " + label + " | " + std::to_string(neurons) + " | " + runs[0].scores[t].task +
             " | " + cell(loss, "%.4f", 1) + " | " + cell(exact, "%.1f", 100) + "% |";
      out += choices ? " " + cell(acc, "%.1f", 100) + "% |\n" : "\n";
    }
  return out;
}

}  // namespace

std::optional<DeactivateOptions> parse_deactivate_options(const std::vector<std::string>& args,
                                                          std::ostream& out) {
  return parse_command<DeactivateOptions>(&deactivate_command_options, &check_deactivate, args,
                                          out);
}

int run_deactivate(const DeactivateOptions& o) {
  const train::ParallelJob job = train::ParallelJob::start(o.eval.parallelism, o.eval.device);
  auto model = build_eval_model(o.eval, job);
  const neuron::NeuronSet set = neuron::load_neuron_set(o.neurons);
  const neuron::NeuronSpace space = deactivation_space(set, o.neurons, *model);
  const neuron::RandomMatch match = neuron::random_match_from_name(o.random_match);
  const bool print = job.writes_output();
  train::MetricsLog log = print && !o.out.empty() ? train::MetricsLog(o.out) : train::MetricsLog();

  std::vector<Condition> runs;
  auto evaluate = [&](const std::string& name, int64_t index,
                      const std::vector<neuron::NeuronId>& ids) {
    const auto t0 = std::chrono::steady_clock::now();
    std::optional<neuron::Deactivation> zeroed;
    if (!ids.empty()) zeroed.emplace(*model, space, ids);
    runs.push_back({name, index, int64_t(ids.size()), evaluate_held_out(*model, o.eval, job)});
    if (!print) return;
    for (const train::TaskScore& s : runs.back().scores) {
      nlohmann::json j = train::score_json(s);
      j["zeroed"] = name;
      j["index"] = index;
      j["neurons"] = ids.size();
      j["task"] = s.task;
      log.write(j);
    }
    std::fprintf(stderr, "evaluated with %s%s zeroed (%zu neurons) in %.1f s\n", name.c_str(),
                 name == "random" ? (" set " + std::to_string(index + 1)).c_str() : "", ids.size(),
                 train::seconds_since(t0));
  };
  evaluate("none", 0, {});
  evaluate("set", 0, set.ids);
  for (int64_t r = 0; r < o.random_sets; ++r)
    evaluate(
        "random", r,
        neuron::random_like(set.ids, space, match, data::mix_seed(o.random_seed, uint64_t(r))));
  if (!print) return 0;
  std::cout << "zeroing " << set.ids.size() << " " << set.kinds.str() << " neurons of " << o.neurons
            << "; random sets matched by " << o.random_match << "\n\n"
            << deactivation_table(runs, std::filesystem::path(o.neurons).stem().string())
            << std::flush;
  return 0;
}

}  // namespace neft::launch
