#include "launch/cli.h"

#include <algorithm>
#include <new>

#include "launch/analyze.h"
#include "launch/command_options.h"
#include "launch/continual.h"
#include "launch/eval.h"
#include "launch/generate.h"
#include "launch/import_gguf.h"
#include "launch/merge.h"
#include "launch/options.h"
#include "launch/plan.h"
#include "launch/report.h"
#include "launch/score.h"
#include "launch/tokenize.h"
#include "parallel/abort_job.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "train/parallel_job.h"
#include "train/trainer.h"

namespace neft::launch {

namespace {

constexpr const char* kVersion = "0.1.0";

struct Subcommand {
  const char* name;
  const char* summary;  // one line for `neft --help`
  int (*run)(const std::vector<std::string>& args, std::ostream& out);
  bool nested = false;  // a command of commands (`neft analyze deactivate`)
};

const Subcommand kSubcommands[] = {
    {"train", "train a model on a data set (every weight, or --neurons only; AdamW)",
     [](const std::vector<std::string>& args, std::ostream& out) {
       return parse_and_run<TrainOptions>(&parse_train_options, &train::run_training, args, out);
     }},
    {"eval", "evaluate a model on held-out examples of the synthetic tasks",
     [](const std::vector<std::string>& args, std::ostream& out) {
       return parse_and_run<EvalOptions>(&parse_eval_options, &run_eval, args, out);
     }},
    {"generate", "generate text with a model: a prompt streamed, or a JSONL of prompts answered",
     [](const std::vector<std::string>& args, std::ostream& out) {
       return parse_and_run<GenerateOptions>(&parse_generate_options, &run_generate, args, out);
     }},
    {"finetune", "neuron-level fine-tuning end to end: score, select, train the selected neurons",
     [](const std::vector<std::string>& args, std::ostream& out) {
       return parse_and_run<FinetuneOptions>(&parse_finetune_options, &run_finetune, args, out);
     }},
    {"score", "score every neuron of a model for a task (cosine, attribution, wgrad, ...)",
     [](const std::vector<std::string>& args, std::ostream& out) {
       return parse_and_run<ScoreOptions>(&parse_score_options, &run_score, args, out);
     }},
    {"select", "select a budget of neurons from a scores file",
     [](const std::vector<std::string>& args, std::ostream& out) {
       return parse_and_run<SelectOptions>(&parse_select_options, &run_select, args, out);
     }},
    {"merge", "apply a neuron-level run's sparse delta to its base model, as an HF directory",
     [](const std::vector<std::string>& args, std::ostream& out) {
       return parse_and_run<MergeOptions>(&parse_merge_options, &run_merge, args, out);
     }},
    {"import-gguf", "convert a llama.cpp GGUF model into a Hugging Face model directory",
     [](const std::vector<std::string>& args, std::ostream& out) {
       return parse_and_run<ImportGgufOptions>(&parse_import_gguf_options, &run_import_gguf, args,
                                               out);
     }},
    {"tokenize", "encode text to token ids (or decode ids) with a Hugging Face tokenizer.json",
     [](const std::vector<std::string>& args, std::ostream& out) {
       return parse_and_run<TokenizeOptions>(&parse_tokenize_options, &run_tokenize, args, out);
     }},
    {"continual", "continual fine-tuning over a task sequence: NCFT, SeqFT or SeqLoRA, forgetting",
     [](const std::vector<std::string>& args, std::ostream& out) {
       return parse_and_run<ContinualOptions>(&parse_continual_options, &run_continual, args, out);
     }},
    {"analyze", "measure neuron sets: deactivation against random sets, overlap across tasks",
     [](const std::vector<std::string>& args, std::ostream& out) { return run_analyze(args, out); },
     /*nested=*/true},
    {"plan", "will a layout fit: memory per rank, bytes sent per step, a modelled step time",
     [](const std::vector<std::string>& args, std::ostream& out) {
       return parse_and_run<PlanOptions>(&parse_plan_options, &run_plan, args, out);
     }},
    {"report", "compare runs: a markdown table of accuracy, trained parameters, state, step time",
     [](const std::vector<std::string>& args, std::ostream& out) {
       return parse_and_run<ReportOptions>(&parse_report_options, &run_report, args, out);
     }},
};

const Subcommand* find_subcommand(const std::string& name) {
  for (const Subcommand& s : kSubcommands)
    if (name == s.name) return &s;
  return nullptr;
}

std::string subcommand_names() {
  std::string names;
  for (const Subcommand& s : kSubcommands)
    names += (names.empty() ? "" : ", ") + std::string(s.name);
  return names;
}

std::string top_level_help() {
  std::string out =
      "usage: neft <command> [options]\n"
      "       neft <command> --help\n"
      "       neft --version\n\n"
      "Trains and evaluates Llama-family models, with fine-tuning down to single neurons.\n\n"
      "Commands:\n";
  for (const Subcommand& s : kSubcommands) {
    std::string name = s.name;
    name.resize(std::max<size_t>(name.size() + 2, 10), ' ');
    out += "  " + name + s.summary + "\n";
  }
  out += "\n`neft <command> --help` describes a command and its options.\n";
  return out;
}

}  // namespace

std::string version_text() {
  return std::string("neft ") + kVersion +
         (cuda_compiled() ? " (CUDA backend: built)" : " (CUDA backend: not built)");
}

// What a user can change when memory runs out.
constexpr const char* kMemoryHint =
    "; a smaller --micro-batch or --seq-len (with --grad-accum for the same batch), or "
    "--recompute, needs less";

int report_fatal_error(const std::string& command, const std::string& message, std::ostream& err) {
  // One line, whatever the message holds, so logs of many ranks stay greppable.
  std::string line = message;
  std::replace(line.begin(), line.end(), '\n', ' ');
  // In a job of many ranks the others may be waiting for this one inside a collective: end
  // them all (MPI_Abort), with the rank in the message ("neft: rank 1: train: error: ...").
  if (train::running_world_size() > 1)
    parallel::abort_job((command.empty() ? "" : command + ": ") + "error: " + line);
  err << "neft" << (command.empty() ? "" : " " + command) << ": error: " << line << std::endl;
  return 1;
}

int run_neft(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    out << top_level_help();
    return 1;
  }
  const std::string& first = args.front();
  if (first == "--help" || first == "-h") {
    out << top_level_help();
    return 0;
  }
  if (first == "--version") {
    out << version_text() << "\n";
    return 0;
  }
  // `neft help train` is `neft train --help`.
  if (first == "help" && args.size() >= 2 && find_subcommand(args[1]))
    return run_neft({args[1], "--help"}, out, err);
  if (first == "help" && args.size() == 1) {
    out << top_level_help();
    return 0;
  }

  const Subcommand* subcommand = find_subcommand(first);
  if (!subcommand) {
    const bool is_option = first.rfind("-", 0) == 0;
    return report_fatal_error("",
                              std::string(is_option ? "unknown option '" : "unknown command '") +
                                  first + "' (the commands are " + subcommand_names() +
                                  "); try `neft --help`",
                              err);
  }
  // Errors name the command as typed: "analyze deactivate" for a command of commands.
  const std::string command = subcommand->nested && args.size() > 1 && !args[1].starts_with("-")
                                  ? first + " " + args[1]
                                  : first;
  try {
    return subcommand->run({args.begin() + 1, args.end()}, out);
  } catch (const std::bad_alloc&) {
    return report_fatal_error(command, std::string("out of host memory") + kMemoryHint, err);
  } catch (const std::exception& e) {  // neft::Error, and anything a library throws
    const std::string what = e.what();
    return report_fatal_error(
        command, what.starts_with("out of host memory") ? what + kMemoryHint : what, err);
  }
}

}  // namespace neft::launch
