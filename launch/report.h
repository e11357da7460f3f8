// `neft report RUN_DIR...`: the comparison of training runs a reader takes in at a glance.
// One markdown row per run (its method, task accuracies, what it trained, the training state
// it held, its step time), read back from what `neft train` / `neft finetune` left in the
// run's --out: metrics.jsonl, neurons.safetensors, model/config.json. With --png, a heatmap
// of where each neuron-level run's selected neurons sit (layers x kinds), drawn by gnuplot.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace neft::launch {

struct ReportOptions {
  std::vector<std::string> runs;  // RUN_DIR or LABEL=DIR, in table order
  std::string tasks;              // the accuracy columns; "" = every task found
  std::string png;                // the neuron map; "" = none
  std::string markdown;           // also write the table here; "" = stdout only
};

// What one run left behind, as the table shows it.
struct RunSummary {
  std::string label, dir;
  std::string method;                      // "full", or "cosine 5%params global" (the neuron file)
  std::map<std::string, double> accuracy;  // the last evaluation record, by task
  std::vector<std::string> tasks;          // its tasks in the record's order
  std::string eval_split = "eval";         // the record's held-out split: eval or validation
  int64_t trained_parameters = -1;         // over the ranks of data-parallel replica 0; -1: unknown
  int64_t state_bytes = -1;
  int64_t model_parameters = -1;  // model/config.json's count; -1: unknown
  double step_ms = -1;            // median step time past the first 5 steps; -1: none
};

// The runs that share a label (one method over several seeds), in order of first appearance.
// Runs under one label must have the same method.
struct RunGroup {
  std::string label;
  std::vector<RunSummary> runs;
};
std::vector<RunGroup> group_runs(const std::vector<RunSummary>& runs);

// Mean and sample standard deviation (0 for fewer than two values).
struct MeanSd {
  double mean = 0, sd = 0;
  int n = 0;
};
MeanSd mean_sd(const std::vector<double>& values);

// Reads one run directory; label "" = the directory's name. One-line errors naming the file.
RunSummary summarize_run(const std::string& label, const std::string& dir);

// The markdown table of `runs` with the accuracy columns `tasks` ("" = the union, in order of
// appearance): one row per label; where a label has several runs (seeds), a `runs` column
// counts them and each accuracy is their mean ± sample standard deviation, the step time
// their median.
std::string report_table(const std::vector<RunSummary>& runs, const std::string& tasks);

// The neuron map's data: one block per neuron-level run (gnuplot's `index`), one line per
// layer and kind: run, layer, kind, column (0 ffn, 1 qo, 2 kv), selected, units, share (the
// mean over the runs of a label).
// Returns the labels of the runs written, in block order.
std::vector<std::string> write_neuron_map_tsv(const std::vector<RunSummary>& runs,
                                              const std::string& path);

std::optional<ReportOptions> parse_report_options(const std::vector<std::string>& args,
                                                  std::ostream& out);
int run_report(const ReportOptions& options);

}  // namespace neft::launch
