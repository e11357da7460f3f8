// `neft report`: reads runs back from their directories and prints the comparison. Nothing
// here trains or loads weights: a run is its metrics.jsonl (accuracy, step times, what each
// rank trained), its neurons.safetensors (the method) and its model/config.json (the size).
#include "launch/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "launch/command_options.h"
#include "launch/plot.h"
#include "lora/peft_format.h"
#include "model/config.h"
#include "neuron/neuron_set.h"
#include "runtime/error.h"
#include "runtime/json_file.h"
#include "runtime/text.h"
#include "train/checkpoint_dir.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace neft::launch {

namespace {

constexpr int64_t kWarmupSteps = 5;  // first steps left out of the step time (allocation, caches)

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The model's parameter count from the run's final model, else its newest checkpoint.
int64_t model_parameters(const fs::path& dir) {
  fs::path config = dir / "model" / "config.json";
  if (!fs::exists(config)) {
    const auto latest = train::find_latest_checkpoint(dir);
    if (!latest) return -1;
    config = *latest / "config.json";
    if (!fs::exists(config)) return -1;
  }
  return model::load_hf_config(config.string()).parameter_count();
}

// r[key] when r is an object holding an integer there, else `otherwise`: a metrics file is
// read leniently, and json's value() would throw its own error on a field of another type.
int64_t integer_or(const json& r, const char* key, int64_t otherwise) {
  if (!r.is_object() || !r.contains(key) || !r[key].is_number_integer()) return otherwise;
  return r[key].get<int64_t>();
}

void read_metrics(const fs::path& path, RunSummary& s) {
  std::ifstream in(path);
  if (!in) fail(path.string(), ": cannot read (is ", s.dir, " a training run's --out?)");
  std::vector<std::pair<int64_t, double>> elapsed;  // (step, elapsed_s) of step records
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::optional<json> parsed = try_parse_json(lines[i]);
    if (!parsed) {
      if (i + 1 == lines.size()) break;  // a line cut short by a killed run
      fail(path.string(), ":", i + 1, ": not a JSON record");
    }
    const json& j = *parsed;
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer()) continue;
    const int64_t step = j["step"].get<int64_t>();
    if (j.contains("eval") && j["eval"].is_object()) {
      s.accuracy.clear();
      s.tasks.clear();
      s.eval_split =
          j.contains("split") && j["split"].is_string() ? j["split"].get<std::string>() : "eval";
      for (const auto& [task, v] : j["eval"].items()) {
        if (!v.is_object() || !v.contains("accuracy") || !v["accuracy"].is_number()) continue;
        s.tasks.push_back(task);
        s.accuracy[task] = v["accuracy"].get<double>();
      }
    }
    if (j.contains("ranks") && j["ranks"].is_array()) {
      s.trained_parameters = s.state_bytes = 0;
      for (const json& r : j["ranks"])
        if (integer_or(r, "dp", 0) == 0) {
          // Weights every TP rank holds whole (the norms) count once, on TP rank 0.
          s.trained_parameters += integer_or(r, "trained_parameters", 0);
          if (integer_or(r, "tp", 0) != 0)
            s.trained_parameters -= integer_or(r, "replicated_parameters", 0);
          s.state_bytes += integer_or(r, "state_bytes", 0);
        }
    }
    if (j.contains("elapsed_s") && j["elapsed_s"].is_number())
      elapsed.push_back({step, j["elapsed_s"].get<double>()});
  }
  // A step's time is the difference from the step before it; a resumed run restarts its
  // clock, which shows as a difference that is not positive, and is left out.
  std::vector<double> ms;
  for (size_t i = 1; i < elapsed.size(); ++i) {
    const auto [step, t] = elapsed[i];
    const auto [prev_step, prev_t] = elapsed[i - 1];
    if (step > kWarmupSteps && step == prev_step + 1 && t > prev_t)
      ms.push_back(1e3 * (t - prev_t));
  }
  if (!ms.empty()) s.step_ms = median(ms);
}

std::string method_of(const neuron::NeuronSet& set) {
  std::string m = set.scorer + " " + set.budget + " " + set.scope;
  const std::string kinds = set.kinds.str() + (set.kinds.ffn_gate ? "+gate" : "");
  return kinds == "ffn" ? m : m + " " + kinds;
}

int64_t units_of(const neuron::NeuronSet& set, neuron::NeuronKind k) {
  switch (k) {
    case neuron::NeuronKind::Ffn:
      return set.intermediate;
    case neuron::NeuronKind::QO:
      return set.heads * set.head_dim;
    case neuron::NeuronKind::KV:
      return set.kv_heads * set.head_dim;
  }
  return 0;
}

using G = OptionGroup;

std::unique_ptr<CommandOptions> report_command_options(ReportOptions& o) {
  auto table = std::make_unique<CommandOptions>(
      "report",
      "Compares training runs, each given as RUN_DIR or LABEL=RUN_DIR (the --out of `neft "
      "train` or `neft finetune`): one markdown row per label, in the order given, with its "
      "method (full, or the neuron file's scorer, budget and scope), the accuracy of its last "
      "evaluation per task, the parameters it trained (over one data-parallel replica, and as "
      "a share of the model), the training state it held (AdamW moments and master copies), "
      "and its median step time past the first 5 steps. Runs given under one label (the same "
      "method over several seeds: NeFT=s1/cosine NeFT=s2/cosine ...) make one row, each "
      "accuracy their mean ± sample standard deviation, with a column counting the runs.");
  CommandOptions& t = *table;
  t.add(G::evaluation, "tasks", &o.tasks,
        "the accuracy columns, comma-separated; empty: every task the runs evaluated")
      .value_name("LIST");
  t.add(G::output, "png", &o.png,
        "also draw where each neuron-level run's neurons sit (layers x kinds, the share of a "
        "layer's neurons selected) with gnuplot; the data go to the same name with .tsv")
      .value_name("FILE");
  t.add(G::output, "markdown", &o.markdown, "also write the table to this file").value_name("FILE");
  return table;
}

void check_report(const CommandOptions&, ReportOptions&) {}

}  // namespace

RunSummary summarize_run(const std::string& label, const std::string& dir) {
  RunSummary s;
  s.dir = dir;
  s.label = label.empty() ? fs::path(dir).lexically_normal().filename().string() : label;
  if (s.label.empty()) s.label = fs::path(dir).lexically_normal().parent_path().filename().string();
  if (!fs::is_directory(dir)) fail("report: ", dir, ": no such run directory");
  read_metrics(fs::path(dir) / "metrics.jsonl", s);
  const fs::path neurons = fs::path(dir) / "neurons.safetensors";
  const fs::path adapter = fs::path(dir) / "model";
  if (fs::exists(neurons)) {
    s.method = method_of(neuron::load_neuron_set(neurons.string()));
  } else if (lora::has_peft_adapter(adapter.string())) {
    const lora::LoraConfig l = lora::load_peft_adapter(adapter.string()).config;
    s.method = "lora r" + std::to_string(l.rank) + " " + join(l.targets, ",");
  } else {
    s.method = "full";
  }
  // Accuracy on the validation split is not the held-out result: say so where it shows.
  if (s.eval_split != "eval") s.method += " (" + s.eval_split + " split)";
  s.model_parameters = model_parameters(dir);
  return s;
}

std::vector<RunGroup> group_runs(const std::vector<RunSummary>& runs) {
  std::vector<RunGroup> groups;
  for (const RunSummary& r : runs) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const RunGroup& g) { return g.label == r.label; });
    if (it == groups.end()) {
      groups.push_back({r.label, {r}});
    } else {
      if (it->runs.front().method != r.method)
        fail("report: the runs labelled ", r.label, " differ in method: ", it->runs.front().dir,
             " is ", it->runs.front().method, ", ", r.dir, " is ", r.method);
      it->runs.push_back(r);
    }
  }
  return groups;
}

MeanSd mean_sd(const std::vector<double>& v) {
  MeanSd m;
  m.n = int(v.size());
  if (v.empty()) return m;
  for (double x : v) m.mean += x;
  m.mean /= double(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - m.mean) * (x - m.mean);
    m.sd = std::sqrt(ss / double(v.size() - 1));
  }
  return m;
}

namespace {
// One accuracy cell: "75.0%" for a single run, "60.0 ± 10.0%" over several, and how many of
// them evaluated the task when some did not; "–" when none did.
std::string accuracy_cell(const MeanSd& m, size_t runs) {
  if (m.n == 0) return "–";
  char buf[64];
  if (runs == 1) {
    std::snprintf(buf, sizeof buf, "%.1f%%", m.mean);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%.1f ± %.1f%%", m.mean, m.sd);
  std::string cell = buf;
  if (size_t(m.n) < runs) cell += " (" + std::to_string(m.n) + " of " + std::to_string(runs) + ")";
  return cell;
}
}  // namespace

std::string report_table(const std::vector<RunSummary>& runs, const std::string& tasks) {
  const std::vector<RunGroup> groups = group_runs(runs);
  std::vector<std::string> columns = split_list(tasks);
  if (columns.empty())
    for (const RunSummary& r : runs)
      for (const std::string& t : r.tasks)
        if (std::find(columns.begin(), columns.end(), t) == columns.end()) columns.push_back(t);
  // Several runs under one label (seeds): their accuracy as mean ± sd, and a column counting them.
  const bool repeated = std::any_of(groups.begin(), groups.end(),
                                    [](const RunGroup& g) { return g.runs.size() > 1; });

  std::string out = repeated ? "| run | runs | method |" : "| run | method |";
  std::string rule = repeated ? "|---|---:|---|" : "|---|---|";
  for (const std::string& t : columns) out += " " + t + " |", rule += "---:|";
  out += " trained parameters | training state | step (ms) |\n";
  out += rule + "---:|---:|---:|\n";
  char buf[64];
  for (const RunGroup& g : groups) {
    const RunSummary& r = g.runs.front();
    out += "| " + g.label + " |";
    if (repeated) out += " " + std::to_string(g.runs.size()) + " |";
    out += " " + r.method + " |";
    for (const std::string& t : columns) {
      std::vector<double> acc;
      for (const RunSummary& run : g.runs) {
        const auto it = run.accuracy.find(t);
        if (it != run.accuracy.end()) acc.push_back(100.0 * it->second);
      }
      out += " " + accuracy_cell(mean_sd(acc), g.runs.size()) + " |";
    }
    std::string trained = "–";
    if (r.trained_parameters >= 0) {
      trained = count_text(double(r.trained_parameters));
      if (r.model_parameters > 0) {
        std::snprintf(buf, sizeof buf, " (%.1f%%)",
                      100.0 * double(r.trained_parameters) / double(r.model_parameters));
        trained += buf;
      }
    }
    out += " " + trained + " | " + (r.state_bytes >= 0 ? bytes_text(double(r.state_bytes)) : "–");
    std::vector<double> step_ms;
    for (const RunSummary& run : g.runs)
      if (run.step_ms >= 0) step_ms.push_back(run.step_ms);
    if (!step_ms.empty()) {
      std::snprintf(buf, sizeof buf, " | %.1f |\n", median(step_ms));
      out += buf;
    } else {
      out += " | – |\n";
    }
  }
  return out;
}

std::vector<std::string> write_neuron_map_tsv(const std::vector<RunSummary>& runs,
                                              const std::string& path) {
  std::ostringstream tsv;
  tsv << "# run\tlayer\tkind\tcolumn\tselected\tunits\tshare\n";
  std::vector<std::string> labels;
  for (const RunGroup& g : group_runs(runs)) {
    // A full fine-tuning run has no map; runs under one label (seeds) give their mean count.
    std::vector<neuron::NeuronSet> sets;
    for (const RunSummary& r : g.runs) {
      const fs::path file = fs::path(r.dir) / "neurons.safetensors";
      if (fs::exists(file)) sets.push_back(neuron::load_neuron_set(file.string()));
    }
    if (sets.empty()) continue;
    const neuron::NeuronSet& set = sets.front();
    std::vector<double> selected(size_t(set.layers) * neuron::kNeuronKinds, 0);
    for (const neuron::NeuronSet& s : sets)
      for (const neuron::NeuronId id : s.ids)
        selected[size_t(neuron::id_layer(id)) * neuron::kNeuronKinds + int(neuron::id_kind(id))] +=
            1.0 / double(sets.size());
    if (!labels.empty()) tsv << "\n\n";  // the next gnuplot data block
    labels.push_back(g.label);
    for (int64_t layer = 0; layer < set.layers; ++layer)
      for (int k = 0; k < neuron::kNeuronKinds; ++k) {
        const auto kind = neuron::NeuronKind(k);
        const int64_t units = units_of(set, kind);
        const double n = selected[size_t(layer) * neuron::kNeuronKinds + k];
        // A kind the run did not choose from is no cell at all (NaN leaves it blank).
        tsv << g.label << '\t' << layer << '\t' << neuron::kind_name(kind) << '\t' << k << '\t' << n
            << '\t' << units << '\t';
        if (set.kinds.has(kind) && units > 0)
          tsv << n / double(units) << '\n';
        else
          tsv << "NaN\n";
      }
  }
  std::ofstream out(path);
  out << tsv.str();
  if (!out.flush()) fail("report: ", path, ": cannot write");
  return labels;
}

std::optional<ReportOptions> parse_report_options(const std::vector<std::string>& args,
                                                  std::ostream& out) {
  std::vector<std::string> runs;
  const std::vector<std::string> options = split_positional(args, runs);
  std::optional<ReportOptions> o =
      parse_command<ReportOptions>(&report_command_options, &check_report, options, out);
  if (!o) return o;
  if (runs.empty()) fail("report: no run directories given; try `neft report --help`");
  o->runs = runs;
  return o;
}

int run_report(const ReportOptions& o) {
  std::vector<RunSummary> runs;
  for (const std::string& arg : o.runs) {
    // LABEL=DIR, unless the whole argument is a directory.
    const size_t eq = arg.find('=');
    if (eq != std::string::npos && !fs::is_directory(arg))
      runs.push_back(summarize_run(arg.substr(0, eq), arg.substr(eq + 1)));
    else
      runs.push_back(summarize_run("", arg));
  }
  const std::string table = report_table(runs, o.tasks);
  std::cout << table << std::flush;
  if (!o.markdown.empty()) {
    std::ofstream md(o.markdown);
    md << table;
    if (!md.flush()) fail("report: --markdown ", o.markdown, ": cannot write");
  }
  if (o.png.empty()) return 0;

  const std::string tsv = fs::path(o.png).replace_extension(".tsv").string();
  const std::vector<std::string> labels = write_neuron_map_tsv(runs, tsv);
  if (labels.empty()) {
    std::printf("no neuron-level run among them: no neuron map drawn\n");
    return 0;
  }
  int64_t layers = 0;
  for (const RunSummary& r : runs) {
    const fs::path file = fs::path(r.dir) / "neurons.safetensors";
    if (fs::exists(file)) layers = std::max(layers, neuron::load_neuron_set(file.string()).layers);
  }
  draw_png("neuron_map.gp", {tsv, o.png, std::to_string(layers), plot_words(labels)}, o.png, tsv,
           "report");
  return 0;
}

}  // namespace neft::launch
