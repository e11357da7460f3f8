// Supervised fine-tuning examples from JSONL: one example per line,
//   {"prompt": [token ids], "response": [token ids], "task": "name"}
// with "task" optional and other keys ignored. Blank lines are skipped. Every problem is a
// one-line error "FILE:LINE: what is wrong": not JSON, not an object, a missing or empty
// prompt/response, not an array of integers, an id outside [0, vocab), a task not a string.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/example.h"

namespace neft::data {

struct SftDataset {
  std::string path;
  std::vector<Example> examples;        // Example::task indexes task_names
  std::vector<int64_t> lines;           // the 1-based line each example came from
  std::vector<std::string> task_names;  // in order of first appearance
};

// vocab > 0 checks every id is below it; vocab = 0 only checks ids fit int32 and are >= 0.
SftDataset load_sft_jsonl(const std::string& path, int32_t vocab = 0);

}  // namespace neft::data
