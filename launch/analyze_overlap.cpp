// `neft analyze overlap`: intersection over union of neuron sets (neuron/overlap.h), the
// matrix over the whole model and each pair's per layer, as markdown tables, JSONL and a PNG
// (scripts/overlap.gp).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "launch/analyze.h"
#include "launch/plot.h"
#include "neuron/neuron_set.h"
#include "neuron/overlap.h"
#include "train/metrics_log.h"

namespace neft::launch {

namespace {

namespace fs = std::filesystem;
using G = OptionGroup;

std::unique_ptr<CommandOptions> overlap_command_options(OverlapOptions& o) {
  auto table = std::make_unique<CommandOptions>(
      "analyze overlap",
      "Compares neuron sets, each given as FILE or LABEL=FILE (from `neft select`, `neft "
      "finetune` or `neft score --budget`): for every pair the intersection over union "
      "(Jaccard) of their neurons, |A ∩ B| / |A ∪ B|, over the whole model and per layer, as the "
      "task-specific-neurons paper compares tasks. The sets must be for models of one shape; "
      "they may come from any tp/pp layout.\n\nusage: neft analyze overlap [options] SET SET "
      "[SET ...]");
  CommandOptions& t = *table;
  t.add(G::output, "png", &o.png,
        "draw the matrix and the per-layer overlaps into this PNG with gnuplot; the data go to "
        "the same name with .tsv")
      .value_name("FILE");
  t.add(G::output, "out", &o.out, "also write each pair's overlaps as one JSON line")
      .value_name("FILE");
  return table;
}

void check_overlap(const CommandOptions&, OverlapOptions&) {}

struct NamedSet {
  std::string label, path;
  neuron::NeuronSet set;
};

std::string fixed(double x, int digits) {
  if (std::isnan(x)) return "–";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

}  // namespace

std::optional<OverlapOptions> parse_overlap_options(const std::vector<std::string>& args,
                                                    std::ostream& out) {
  std::vector<std::string> sets;
  const std::vector<std::string> options = split_positional(args, sets);
  std::optional<OverlapOptions> o =
      parse_command<OverlapOptions>(&overlap_command_options, &check_overlap, options, out);
  if (!o) return o;
  if (sets.size() < 2)
    fail("analyze overlap: give at least two neuron-set files (", sets.size(),
         " given); try `neft analyze overlap --help`");
  o->sets = sets;
  return o;
}

int run_overlap(const OverlapOptions& o) {
  std::vector<NamedSet> sets;
  for (const std::string& arg : o.sets) {
    // LABEL=FILE, unless the whole argument is a file.
    const size_t eq = arg.find('=');
    const bool labelled = eq != std::string::npos && !fs::exists(arg);
    const std::string path = labelled ? arg.substr(eq + 1) : arg;
    const std::string label = labelled ? arg.substr(0, eq) : fs::path(path).stem().string();
    sets.push_back({label, path, neuron::load_neuron_set(path)});
    if (sets.size() > 1) neuron::check_same_model(sets[0].set, sets[0].path, sets.back().set, path);
  }
  const size_t n = sets.size();
  const int64_t layers = sets[0].set.layers;

  // The matrix: IoU of every pair, each set's size on the diagonal's row label.
  std::string table = "| IoU |", rule = "|---|";
  for (const NamedSet& s : sets) {
    table += " " + s.label + " |";
    rule += "---:|";
  }
  table += "\n" + rule + "\n";
  std::vector<std::vector<double>> iou(n, std::vector<double>(n));
  for (size_t i = 0; i < n; ++i) {
    table += "| " + sets[i].label + " (" + std::to_string(sets[i].set.ids.size()) + ") |";
    for (size_t j = 0; j < n; ++j) {
      iou[i][j] = neuron::overlap(sets[i].set.ids, sets[j].set.ids).iou();
      table += " " + fixed(iou[i][j], 3) + " |";
    }
    table += "\n";
  }

  // Per layer: one column per pair.
  std::vector<std::pair<size_t, size_t>> pairs;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) pairs.push_back({i, j});
  std::vector<std::vector<neuron::SetOverlap>> per_layer;
  std::string layer_table = "| layer |";
  rule = "|---:|";
  for (const auto& [i, j] : pairs) {
    per_layer.push_back(neuron::overlap_per_layer(sets[i].set.ids, sets[j].set.ids, layers));
    layer_table += " " + sets[i].label + " ∩ " + sets[j].label + " |";
    rule += "---:|";
  }
  layer_table += "\n" + rule + "\n";
  for (int64_t l = 0; l < layers; ++l) {
    layer_table += "| " + std::to_string(l) + " |";
    for (const auto& p : per_layer) layer_table += " " + fixed(p[size_t(l)].iou(), 3) + " |";
    layer_table += "\n";
  }
  std::cout << "intersection over union of " << n << " neuron sets (neurons in brackets)\n\n"
            << table << "\nper layer (–: neither set has a neuron there)\n\n"
            << layer_table << std::flush;

  if (!o.out.empty()) {
    train::MetricsLog log(o.out);
    for (size_t p = 0; p < pairs.size(); ++p) {
      const auto [i, j] = pairs[p];
      const neuron::SetOverlap all = neuron::overlap(sets[i].set.ids, sets[j].set.ids);
      nlohmann::json layer_iou = nlohmann::json::array();
      for (const neuron::SetOverlap& s : per_layer[p]) layer_iou.push_back(s.iou());
      log.write({{"a", sets[i].label},
                 {"b", sets[j].label},
                 {"a_neurons", sets[i].set.ids.size()},
                 {"b_neurons", sets[j].set.ids.size()},
                 {"common", all.common},
                 {"union", all.either},
                 {"iou", all.iou()},
                 {"layer_iou", layer_iou}});
    }
  }
  if (o.png.empty()) return 0;
  // Block 0: the matrix (row, column, IoU); block 1: per layer, one column per pair.
  const std::string tsv = fs::path(o.png).replace_extension(".tsv").string();
  std::ofstream f(tsv);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) f << i << "\t" << j << "\t" << fixed(iou[i][j], 6) << "\n";
  f << "\n\n";
  for (int64_t l = 0; l < layers; ++l) {
    f << l;
    for (const auto& p : per_layer) {
      const double v = p[size_t(l)].iou();
      f << "\t" << (std::isnan(v) ? std::string("NaN") : fixed(v, 6));
    }
    f << "\n";
  }
  if (!f.flush()) fail("analyze overlap: cannot write ", tsv);
  std::vector<std::string> labels, pair_labels;
  for (const NamedSet& s : sets) labels.push_back(s.label);
  for (const auto& [i, j] : pairs) pair_labels.push_back(sets[i].label + " ∩ " + sets[j].label);
  draw_png("overlap.gp",
           {tsv, o.png, plot_words(labels), plot_words(pair_labels), std::to_string(layers)}, o.png,
           tsv, "analyze overlap");
  return 0;
}

}  // namespace neft::launch
