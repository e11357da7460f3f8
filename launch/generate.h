// `neft generate`: text from a model (a directory from `neft train`, `neft merge`, `neft
// import-gguf` or transformers), optionally with a neuron-level run's --delta: one --prompt
// streamed to standard output as it is generated, or every line of an --input JSONL
// ({"prompt": "..."} or {"messages": [...]}) answered into a JSONL. Prompts are wrapped in
// the model's chat template when it has one (--chat), greedy or sampled (train/sampling.h),
// with a KV cache and batches of --batch-size prompts; under mpirun at --tp N.
#pragma once
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "train/train_options.h"

namespace neft::launch {

struct GenerateOptions {
  std::string model, init, delta;
  std::string device = "cpu";
  std::string dtype = "auto";
  std::string prompt;         // one prompt, streamed
  std::string input;          // or a JSONL of prompts
  std::string out;            // "" = standard output
  std::string chat = "auto";  // auto | on | off
  std::string system;         // a system message before each --prompt (with the chat template)
  int64_t max_new_tokens = 256;
  int64_t batch_size = 8;
  double temperature = 0.0;
  int64_t top_k = 0;
  double top_p = 1.0;
  uint64_t seed = 0;
  train::ParallelOptions parallelism;  // tp and the backend (pp stays 1)
};

std::optional<GenerateOptions> parse_generate_options(const std::vector<std::string>& args,
                                                      std::ostream& out);
int run_generate(const GenerateOptions& options);

}  // namespace neft::launch
