// neft_neuron_bench: what neuron-level training saves against full fine-tuning of the same
// model, in step time and training-state memory, measured side by side in one run.
//
// Configurations: "full" (every parameter trains, neuron::train_all) and one per --fractions
// entry: a seeded random set of neurons of the --kinds whose parameters add up to the most
// that fits in that fraction of the model's parameter count (the NeFT paper's unit), trained
// with neuron::train_only. The sets are nested: each is a prefix of one seeded shuffle. In a
// neuron-level configuration everything else is frozen: the embedding, the norms, the LM head
// and the unselected rows and columns (that is the method). With --selection FILE one more
// configuration: the neurons of a neuron-set file as `neft select` writes it (NeFT's cosine
// probe, attribution, ...). A scorer's neurons sit where its scores put them (NeFT's, ranked
// over all layers, crowd into the lowest), a random set's spread evenly, and a step's cost
// depends on where the trained neurons are; so every configuration's neurons per layer are
// printed and in the JSON. Each configuration has its own AdamW, built once its parameters
// are set up; the model is shared, and each configuration's parameter set-up (which train,
// their neuron indices and gradients) is put back before its steps.
//
// Timing: after --warmup untimed steps each, --rounds rounds run every configuration for
// --steps steps, the configurations in rotating order, on the same token batches, so that
// the drift of a shared machine hits them all alike; a configuration's step time is the
// median of all its timed steps. The steps are the `neft train` step that neft_train_bench
// times (benchmarks/step_bench.h). Memory, per rank: training state (AdamW::state_bytes:
// f32 master copies or master rows, moments, gradients), the gradient bytes a data-parallel
// step all-reduces (those of the trained parameters), and the activations the model holds.
//
// Under mpirun the ranks form a --tp x --pp x dp layout as in neft_train_bench; the neuron
// sets are chosen over the whole model and each rank trains the neurons it owns; memory
// figures are the largest over the ranks.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "benchmarks/bench_util.h"
#include "benchmarks/step_bench.h"
#include "data/batch.h"
#include "model/config.h"
#include "model/llama.h"
#include "neuron/neuron_set.h"
#include "neuron/neuron_space.h"
#include "neuron/trainable.h"
#include "optim/adamw.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/parameter.h"
#include "runtime/tensor.h"

namespace neft::bench {
namespace {

struct Options : StepOptions {
  Options() { seq = 128; }
  int64_t steps = 3;   // timed steps per configuration per round
  int64_t rounds = 3;  // rounds over all configurations
  int64_t warmup = 1;  // untimed steps per configuration first
  std::vector<double> fractions = {0.01, 0.05, 0.1};
  std::string kinds = "ffn";
  bool gate = false;
  std::string selection;  // a neuron-set file: one more configuration
};

// "0.01,0.05,0.1": each in (0, 1].
std::vector<double> parse_fractions(const std::string& list) {
  std::vector<double> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, comma - start);
    char* end = nullptr;
    const double f = std::strtod(item.c_str(), &end);
    if (item.empty() || *end != '\0' || !(f > 0.0 && f <= 1.0))
      fail("--fractions: '", item, "' is not a fraction in (0, 1] (in '", list, "')");
    out.push_back(f);
    start = comma + 1;
  }
  return out;
}

bool parse(int argc, char** argv, Options& o) {
  const std::string usage =
      "usage: [mpirun -np N] neft_neuron_bench [--preset NAME] [--batch B] [--seq T]\n"
      "                         [--fractions F,F,..] [--kinds K,K] [--gate]\n"
      "                         [--selection FILE] [--steps N]\n"
      "                         [--rounds R] [--warmup N] [--micro-batches K] [--tp N] [--pp M]\n"
      "                         [--device cpu|cuda] [--dtype D] [--recompute] [--seed S]\n"
      "                         [--json] [--help]\n" +
      step_usage(Options{}) +
      "  --fractions  neuron-level configurations, as fractions of the model's parameter\n"
      "               count (default 0.01,0.05,0.1); full fine-tuning always runs as well\n"
      "  --kinds      neuron kinds: ffn, qo, kv, a list of them, or all (default ffn)\n"
      "  --gate       gate_proj's row joins each ffn neuron\n"
      "  --selection  one more configuration: the neurons of FILE, a neuron-set file made\n"
      "               for this model by `neft select` (or `neft finetune`), its own kinds\n"
      "  --steps      timed steps per configuration per round (default 3)\n"
      "  --rounds     rounds over all configurations; medians over all (default 3)\n"
      "  --warmup     untimed steps per configuration first (default 1)\n";
  return parse_step_args(argc, argv, usage, o,
                         [&](const std::string& arg, const OptionValue& value) {
                           if (arg == "--fractions")
                             o.fractions = parse_fractions(value());
                           else if (arg == "--kinds")
                             o.kinds = value();
                           else if (arg == "--gate")
                             o.gate = true;
                           else if (arg == "--selection")
                             o.selection = value();
                           else if (arg == "--steps")
                             o.steps = parse_count(arg, value(), 1);
                           else if (arg == "--rounds")
                             o.rounds = parse_count(arg, value(), 1);
                           else if (arg == "--warmup")
                             o.warmup = parse_count(arg, value(), 0);
                           else
                             return false;
                           return true;
                         });
}

// What a configuration sets on each parameter; put back before its steps, saved after them
// (the gradients, once allocated, are kept).
struct ParameterSetup {
  bool trainable = true;
  Tensor neuron_index;
  int neuron_axis = 0;
  Tensor grad;
};

struct Configuration {
  std::string name;       // "full", "ffn 5%", "cosine 5%params" (a file's scorer and budget)
  double fraction = 1.0;  // of the model's parameter count asked for (a file's: it holds)
  int64_t neurons = 0;    // selected over the whole model (0 for full)
  int64_t selected = 0;   // their parameters (the model's count for full)
  std::string kinds;      // of the neurons ("" for full)
  std::vector<int64_t> per_layer;  // neurons in each layer (empty for full)
  std::unique_ptr<optim::AdamW> opt;
  std::vector<ParameterSetup> setup;
  std::vector<double> ms;        // every timed step
  std::vector<double> round_ms;  // the median of each round's steps
  std::vector<double> comm_mib;  // sent per group (tp, pp, dp) in the timed steps

  void save(model::LlamaModel& m) {
    setup.clear();
    for (const Parameter* p : m.parameters())
      setup.push_back({p->trainable, p->neuron_index, p->neuron_axis, p->grad});
  }
  void restore(model::LlamaModel& m) const {
    const ParameterList params = m.parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      params[i]->trainable = setup[i].trainable;
      params[i]->neuron_index = setup[i].neuron_index;
      params[i]->neuron_axis = setup[i].neuron_axis;
      params[i]->grad = setup[i].grad;
    }
  }
};

// A seeded random set of neurons whose parameters add up to the most that fits in `budget`:
// a prefix of `shuffled`, passing over any neuron that would overflow it (kinds may differ
// in size), so the sets of growing budgets nest.
std::vector<neuron::NeuronId> random_set(const neuron::NeuronSpace& space,
                                         const std::vector<neuron::NeuronId>& shuffled,
                                         int64_t budget, int64_t& params) {
  std::vector<neuron::NeuronId> out;
  params = 0;
  for (neuron::NeuronId id : shuffled) {
    const int64_t p = space.params_of(id);
    if (params + p > budget) continue;
    out.push_back(id);
    params += p;
  }
  return out;
}

// How many of `ids` each of the model's layers holds.
std::vector<int64_t> neurons_per_layer(const std::vector<neuron::NeuronId>& ids, int64_t layers) {
  std::vector<int64_t> out(size_t(layers), 0);
  for (neuron::NeuronId id : ids) ++out[size_t(neuron::id_layer(id))];
  return out;
}

// "0:171 1:170 ...": the layers that hold any, and how many.
std::string per_layer_str(const std::vector<int64_t>& per_layer) {
  std::string out;
  for (size_t l = 0; l < per_layer.size(); ++l)
    if (per_layer[l] > 0)
      out += fmt("%s%zu:%lld", out.empty() ? "" : " ", l, (long long)per_layer[l]);
  return out;
}

// The configuration of a neuron-set file, its neurons checked against the model (space_of:
// shape, ids, kinds; one-line errors naming the file), set up to train on `m`.
Configuration file_configuration(model::LlamaModel& m, const model::LlamaConfig& config,
                                 const parallel::Layout& layout, const std::string& path) {
  const neuron::NeuronSet set = neuron::load_neuron_set(path);
  const neuron::NeuronSpace space = neuron::space_of(set, config, layout.tp, layout.pp, path);
  Configuration c;
  c.name = (set.scorer.empty() ? std::string("file") : set.scorer) +
           (set.budget.empty() ? "" : " " + set.budget);
  c.neurons = int64_t(set.ids.size());
  c.selected = set.params;
  c.fraction = double(set.params) / double(config.parameter_count());
  c.kinds = set.kinds.str();
  c.per_layer = neurons_per_layer(set.ids, config.layers);
  neuron::train_only(m, space, set.ids);
  c.opt = std::make_unique<optim::AdamW>(m.parameters(), kAdamW);
  c.save(m);
  return c;
}

// The memory figures of the active configuration on this rank, the largest over the ranks.
struct Memory {
  double state = 0, dp_grads = 0, activations = 0, trained = 0;
};
Memory memory_of(model::LlamaModel& m, const optim::AdamW& opt) {
  double grads = 0;
  for (const Parameter* p : m.parameters())
    if (p->grad.defined()) grads += double(p->grad.nbytes());
  const std::vector<double> v =
      max_over_ranks({double(opt.state_bytes()), grads, double(m.activation_bytes()),
                      double(opt.trained_parameters())});
  return {v[0], v[1], v[2], v[3]};
}

double mib_of(double bytes) { return bytes / (1 << 20); }

int run(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) return 0;
  const Job job = start_job(o);
  const parallel::Layout layout = job.layout();
  const bool multi_rank = job.world() > 1;
  FILE* log = job.rank() != 0 ? nullptr : o.json ? stderr : stdout;

  const model::LlamaConfig config = step_config(o);
  const neuron::NeuronKinds kinds = neuron::NeuronKinds::parse(o.kinds, o.gate);
  const neuron::NeuronSpace whole(config, kinds);  // global ids: the same at every layout
  const neuron::NeuronSpace space(config, kinds, layout.tp, layout.pp);
  const int64_t total = config.parameter_count();

  std::vector<neuron::NeuronId> shuffled = whole.owned(0, 0);
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(o.seed + 1));

  const model::ModelOptions mopts = step_model_options(o, job);
  model::LlamaModel m(config, mopts);
  m.init_random(o.seed);

  std::vector<Configuration> configs;
  configs.push_back({"full", 1.0, 0, total});
  neuron::train_all(m);
  configs.back().opt = std::make_unique<optim::AdamW>(m.parameters(), kAdamW);
  configs.back().save(m);
  for (double f : o.fractions) {
    const int64_t budget = int64_t(std::floor(f * double(total)));
    if (budget > whole.total_params())
      fail("--fractions: ", f, " of ", total, " parameters is ", budget, ", more than the ",
           whole.total_params(), " that all ", kinds.str(), " neurons hold");
    Configuration c;
    c.name = kinds.str() + fmt(" %g%%", 100.0 * f);
    c.fraction = f;
    const std::vector<neuron::NeuronId> ids = random_set(whole, shuffled, budget, c.selected);
    if (ids.empty())
      fail("--fractions: ", f, " of ", total, " parameters is ", budget, ", less than one neuron (",
           whole.params_of(shuffled.front()), " parameters)");
    c.neurons = int64_t(ids.size());
    c.kinds = kinds.str();
    c.per_layer = neurons_per_layer(ids, config.layers);
    neuron::train_only(m, space, ids);
    c.opt = std::make_unique<optim::AdamW>(m.parameters(), kAdamW);
    c.save(m);
    configs.push_back(std::move(c));
  }
  if (!o.selection.empty()) configs.push_back(file_configuration(m, config, layout, o.selection));

  // Warm-up batches first, then one set per round, shared by every configuration.
  const int64_t tokens_per_step = o.batch * o.seq * o.micro_batches * layout.dp;
  std::vector<std::vector<data::Batch>> batches;
  for (int64_t s = 0; s < o.warmup + o.rounds * o.steps; ++s)
    batches.push_back(step_batches(o, config.vocab, s, job.dp_rank(), layout.dp));

  say(log, "neft_neuron_bench, preset %s: %.2fM parameters, %s %s%s, batch %lld x seq %lld%s%s\n",
      config.name.c_str(), total / 1e6, device_name(o.device), dtype_name(mopts.dtype),
      o.recompute ? ", recompute" : "", (long long)o.batch, (long long)o.seq,
      o.micro_batches > 1 ? fmt(" x %lld micro-batches", (long long)o.micro_batches).c_str() : "",
      multi_rank ? " per DP rank" : "");
  if (multi_rank)
    say(log, "  layout: tp %d x pp %d x dp %d = %d ranks, %lld tokens per step\n", layout.tp,
        layout.pp, layout.dp, layout.world(), (long long)tokens_per_step);
  std::string sizes;
  for (neuron::NeuronKind k : kinds.list())
    sizes += fmt("%s%s %lld", sizes.empty() ? "" : ", ", neuron::kind_name(k),
                 (long long)whole.params_per_neuron(k));
  say(log,
      "  neurons: %s%s (parameters per neuron: %s), %lld in all, holding %.2fM parameters "
      "(%.1f%% of the model)\n",
      kinds.str().c_str(), o.gate ? " with gate" : "", sizes.c_str(),
      (long long)whole.total_neurons(), whole.total_params() / 1e6,
      100.0 * double(whole.total_params()) / double(total));
  if (multi_rank)
    say(log, "  memory and trained parameters are per rank, the most any rank holds\n");
  say(log,
      "  neuron-level configurations train only the selected neurons; the embedding, the "
      "norms and the LM head are frozen there\n");
  for (size_t i = 1; i < configs.size(); ++i)
    say(log, "  %s: neurons per layer %s\n", configs[i].name.c_str(),
        per_layer_str(configs[i].per_layer).c_str());
  say(log, "  %lld rounds x %lld timed steps per configuration, after %lld warm-up steps each\n",
      (long long)o.rounds, (long long)o.steps, (long long)o.warmup);

  for (Configuration& c : configs) {
    c.restore(m);
    for (int64_t s = 0; s < o.warmup; ++s) timed_step(m, *c.opt, batches[size_t(s)], job);
    c.save(m);
    c.comm_mib.assign(3, 0.0);
  }
  for (int64_t r = 0; r < o.rounds; ++r) {
    std::string line = fmt("round %lld/%lld:", (long long)(r + 1), (long long)o.rounds);
    for (size_t k = 0; k < configs.size(); ++k) {
      Configuration& c = configs[(size_t(r) + k) % configs.size()];
      c.restore(m);
      const std::vector<double> before = bytes_sent(job);
      std::vector<double> ms;
      for (int64_t s = 0; s < o.steps; ++s) {
        const size_t b = size_t(o.warmup + r * o.steps + s);
        ms.push_back(timed_step(m, *c.opt, batches[b], job).ms);
      }
      const std::vector<double> after = bytes_sent(job);
      for (size_t g = 0; g < 3; ++g) c.comm_mib[g] += mib_of(after[g] - before[g]);
      c.ms.insert(c.ms.end(), ms.begin(), ms.end());
      c.round_ms.push_back(median(ms));
      c.save(m);
      line += fmt(" %s %.0f ms", c.name.c_str(), median(ms));
      if (k + 1 < configs.size()) line += ",";
    }
    say(log, "%s\n", line.c_str());
  }

  // The figures, each configuration's memory read while it is set up.
  struct Row {
    double ms, tokens_per_s;
    Memory mem;
    std::vector<double> comm;
  };
  std::vector<Row> rows;
  for (Configuration& c : configs) {
    c.restore(m);
    std::vector<double> comm = c.comm_mib;
    for (double& x : comm) x /= double(o.rounds * o.steps);
    comm = max_over_ranks(comm);
    const double ms = median(c.ms);
    rows.push_back({ms, double(tokens_per_step) / ms * 1e3, memory_of(m, *c.opt), comm});
  }
  const Row& full = rows.front();

  say(log, "\n%-16s %8s %15s %9s %9s %7s %11s %8s %11s %11s\n", "config", "neurons", "trained",
      "step ms", "tokens/s", "x full", "state MiB", "x full", "dp grads MiB", "activ. MiB");
  for (size_t i = 0; i < configs.size(); ++i) {
    const Configuration& c = configs[i];
    const Row& w = rows[i];
    say(log, "%-16s %8s %8.3fM %6.2f%% %9.1f %9.0f %7.3f %11.1f %8.4f %12.2f %11.1f\n",
        c.name.c_str(), i == 0 ? "-" : fmt("%lld", (long long)c.neurons).c_str(),
        w.mem.trained / 1e6, 100.0 * w.mem.trained / double(total), w.ms, w.tokens_per_s,
        w.ms / full.ms, mib_of(w.mem.state), w.mem.state / full.mem.state, mib_of(w.mem.dp_grads),
        mib_of(w.mem.activations));
  }
  if (multi_rank) {
    say(log, "communication per step per rank (MiB, the most any rank sent): tp / pp / dp\n");
    for (size_t i = 0; i < configs.size(); ++i)
      say(log, "  %-16s %.3f / %.3f / %.3f\n", configs[i].name.c_str(), rows[i].comm[0],
          rows[i].comm[1], rows[i].comm[2]);
  }
  // Each round's ratio to full from steps taken minutes apart at most: steadier than the
  // ratio of the medians when the machine's load moves between rounds.
  std::vector<double> round_ratio(configs.size(), 1.0);
  for (size_t i = 1; i < configs.size(); ++i) {
    std::vector<double> ratios;
    for (size_t r = 0; r < configs[i].round_ms.size(); ++r)
      ratios.push_back(configs[i].round_ms[r] / configs[0].round_ms[r]);
    round_ratio[i] = median(ratios);
    std::string line;
    for (double x : ratios) line += fmt(" %.3f", x);
    say(log, "%s step time / full per round:%s, median %.3f\n", configs[i].name.c_str(),
        line.c_str(), round_ratio[i]);
  }
  for (size_t i = 1; i < configs.size(); ++i)
    if (std::abs(configs[i].fraction - 0.05) < 1e-12)
      say(log,
          "targets at 5%% (reported, not enforced): step time %.3fx full (target <= 0.75x: %s), "
          "training state %.1f%% of full (target <= 7%%: %s)\n",
          rows[i].ms / full.ms, rows[i].ms <= 0.75 * full.ms ? "met" : "missed",
          100.0 * rows[i].mem.state / full.mem.state,
          rows[i].mem.state <= 0.07 * full.mem.state ? "met" : "missed");

  if (o.json && job.rank() == 0)
    for (size_t i = 0; i < configs.size(); ++i) {
      const Configuration& c = configs[i];
      const Row& w = rows[i];
      std::vector<double> step_ms;
      for (double ms : c.ms) step_ms.push_back(round_to(ms, 3));
      const nlohmann::json j = {
          {"framework", "neft"},
          {"bench", "neuron"},
          {"preset", config.name},
          {"config", c.name},
          {"kinds", c.kinds},
          {"fraction", c.fraction},
          {"neurons", c.neurons},
          {"neurons_per_layer", c.per_layer},
          {"selected_parameters", c.selected},
          {"trained_parameters", int64_t(w.mem.trained)},  // per rank, the most
          {"parameters", total},
          {"step_ms_median", round_to(w.ms, 3)},
          {"step_ms", step_ms},
          {"tokens_per_s", round_to(w.tokens_per_s, 1)},
          {"step_time_vs_full", round_to(w.ms / full.ms, 4)},
          {"step_time_vs_full_round_median", round_to(round_ratio[i], 4)},
          {"state_bytes", int64_t(w.mem.state)},  // per rank, the most
          {"state_vs_full", round_to(w.mem.state / full.mem.state, 5)},
          {"dp_grad_bytes", int64_t(w.mem.dp_grads)},
          {"activation_bytes", int64_t(w.mem.activations)},
          {"comm_mib_per_step", {{"tp", w.comm[0]}, {"pp", w.comm[1]}, {"dp", w.comm[2]}}},
          {"device", device_name(o.device)},
          {"dtype", dtype_name(mopts.dtype)},
          {"recompute", o.recompute},
          {"batch", o.batch},
          {"seq", o.seq},
          {"micro_batches", o.micro_batches},
          {"tokens_per_step", tokens_per_step},
          {"tp", layout.tp},
          {"pp", layout.pp},
          {"dp", layout.dp},
          {"world", layout.world()},
          {"rounds", o.rounds},
          {"steps", o.steps},
      };
      std::printf("%s\n", j.dump().c_str());
    }
  return 0;
}

}  // namespace
}  // namespace neft::bench

int main(int argc, char** argv) {
  return neft::bench::step_bench_main(argc, argv, "neft_neuron_bench", neft::bench::run);
}
