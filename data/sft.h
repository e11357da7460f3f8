// Supervised fine-tuning data from JSONL, one item per line (blank lines skipped), in TRL's
// formats (text_example.h says what each one learns):
//   {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", ...}, ...]}
//   {"prompt": "...", "completion": "..."}   (or both lists of messages)
//   {"text": "..."}
//   {"prompt": [token ids], "response": [token ids]}   (pre-tokenized: the response is learned)
// and, for evaluation only, multiple choice, scored by log-likelihood:
//   {"prompt": "...", "choices": ["...", ...], "answer": index or the right choice}
// Every line may name its "task" (a string); other keys are ignored. SftOptions::tasks keeps
// only the lines of the named tasks (a listed task with no line is an error). Text lines need the
// model's tokenizer (and messages its chat template). Every problem is a one-line error
// "FILE:LINE: what is wrong": not JSON, not an object, none of the formats, a missing, empty
// or mistyped field, an id outside [0, vocab), a conversation the template cannot render.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/example.h"

namespace neft::data {

// One multiple-choice item: option i is the prompt followed by choice i (Example::prompt the
// prompt's ids, Example::response the choice's), and `answer` the right one.
struct ChoiceItem {
  std::vector<Example> options;
  std::vector<size_t> choice_bytes;  // of each choice's text, for the length-normalised score
  int answer = 0;
  int task = -1;
  int64_t line = 0;
};

struct SftDataset {
  std::string path;
  std::vector<Example> examples;        // Example::task indexes task_names
  std::vector<int64_t> lines;           // the 1-based line each example came from
  std::vector<ChoiceItem> choices;      // only where SftOptions::evaluation
  std::vector<std::string> task_names;  // in order of first appearance
};

struct SftOptions {
  // > 0: every token id must be below it; 0 only checks ids fit int32 and are >= 0.
  int32_t vocab = 0;
  // The model directory whose tokenizer and chat template text lines use ("" or a preset:
  // text lines are an error).
  std::string model;
  // Evaluation: a conversation learns (is scored on) its last assistant turn only, and
  // multiple-choice items are read; in training they are an error.
  bool evaluation = false;
  // Only these tasks' lines, their names in this order in task_names; empty: every line.
  std::vector<std::string> tasks;
};

SftDataset load_sft_jsonl(const std::string& path, const SftOptions& options = {});

}  // namespace neft::data
