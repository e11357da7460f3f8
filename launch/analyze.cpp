#include "launch/analyze.h"

#include "launch/command_options.h"
#include "runtime/error.h"

namespace neft::launch {

namespace {

struct Analysis {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args, std::ostream& out);
};

const Analysis kAnalyses[] = {
    {"deactivate",
     "zero a neuron set's outputs and evaluate, against random sets of the same size and kinds",
     [](const std::vector<std::string>& args, std::ostream& out) {
       return parse_and_run<DeactivateOptions>(&parse_deactivate_options, &run_deactivate, args,
                                               out);
     }},
    {"overlap", "intersection over union of neuron sets, overall and per layer (table and PNG)",
     [](const std::vector<std::string>& args, std::ostream& out) {
       return parse_and_run<OverlapOptions>(&parse_overlap_options, &run_overlap, args, out);
     }},
};

std::string analyze_help() {
  std::string s =
      "usage: neft analyze <analysis> [options]\n"
      "       neft analyze <analysis> --help\n\n"
      "Measures neuron sets (files of `neft score`, `neft select`, `neft finetune`) the way the "
      "task-specific-neurons paper does.\n\nAnalyses:\n";
  for (const Analysis& a : kAnalyses)
    s += "  " + std::string(a.name) + std::string(12 - std::string(a.name).size(), ' ') +
         a.summary + "\n";
  return s;
}

}  // namespace

int run_analyze(const std::vector<std::string>& args, std::ostream& out) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    out << analyze_help();
    return args.empty() ? 1 : 0;
  }
  std::string names;
  for (const Analysis& a : kAnalyses) {
    if (args[0] == a.name) return a.run({args.begin() + 1, args.end()}, out);
    names += (names.empty() ? "" : ", ") + std::string(a.name);
  }
  fail("unknown analysis '", args[0], "' (the analyses are ", names,
       "); try `neft analyze --help`");
}

}  // namespace neft::launch
