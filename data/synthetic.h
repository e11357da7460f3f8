// The built-in synthetic multi-task suite: small algorithmic tasks that a ~1M-parameter,
// 4-layer transformer learns in minutes on a CPU, so tests and new users have a real
// training signal (and distinct tasks for neuron-selection experiments) without downloads.
//
// Vocabulary (64 ids): PAD=0, BOS=1, SEP=2, EOS=3, one tag per task at 4 + its index in
// all_tasks() (4..15 reserved for tags), symbols 16..63 (48 of them). Every example is
//   prompt = [BOS, TAG, x1..xn, SEP], response = [y1..ym, EOS]
// with x drawn from the task's input distribution and y computed from it:
//   copy     y = x
//   reverse  y = x reversed
//   sort     y = x sorted ascending by id
//   shift    y_i = x_i + 1, wrapping 63 to 16 (a Caesar shift over the symbols)
//   dedup    y = x without repeats, first occurrences in order (x is drawn with many repeats)
//   add      x = a PLUS b, y = a + b, every number in decimal digits written
//            least-significant digit first (digit d is id 16 + d, PLUS is id 26). Least-
//            significant first lets each output digit depend only on the aligned input
//            digits and the carry just produced, which a small causal model learns easily.
// Input lengths n are uniform in [min_len, max_len]; add operands have 1..max_digits digits.
//
// Determinism: example(task, index, split) is a pure function of (seed, task, index, split),
// drawn from Philox counters, so any example is regenerated without its predecessors.
// Train, eval and validation are disjoint by content: a fixed hash of an input's prompt
// (independent of the seed) puts one input in kHeldOutOneIn outside the training split, half
// of those in eval (the held-out split results are reported on) and half in validation (the
// split hyperparameters are chosen on); each split draws from its own counter stream and
// redraws inputs that belong to another split. A model trained on any seed's train split is
// therefore evaluated only on inputs it never saw, and a choice made on validation has never
// seen eval.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/example.h"

namespace neft::data {

enum class Split : uint32_t { Train = 0, Eval = 1, Validation = 2 };
const char* split_name(Split split);  // "train", "eval", "validation"
// "eval" or "validation" (the held-out splits); fails naming the value otherwise.
Split parse_held_out_split(const std::string& name);

struct SyntheticLengths {
  int min_len = 3, max_len = 8;  // symbols per input (all tasks but add)
  int max_digits = 4;            // digits per add operand
};

class SyntheticSuite {
 public:
  static constexpr int32_t kVocab = 64;
  static constexpr int32_t kPad = 0, kBos = 1, kSep = 2, kEos = 3;
  static constexpr int32_t kFirstTag = 4, kMaxTasks = 12;
  static constexpr int32_t kFirstSymbol = 16, kNumSymbols = 48;
  static constexpr int32_t kFirstDigit = 16, kPlus = 26;
  static constexpr uint64_t kHeldOutOneIn = 8;

  // Tasks by name (see all_tasks()); fails listing the known tasks for an unknown name.
  SyntheticSuite(std::vector<std::string> tasks, uint64_t seed, SyntheticLengths lengths = {});
  static const std::vector<std::string>& all_tasks();

  int32_t vocab_size() const { return kVocab; }
  int num_tasks() const { return int(tasks_.size()); }
  const std::vector<std::string>& tasks() const { return tasks_; }
  const std::string& task_name(int task) const;
  int task_index(const std::string& name) const;  // -1 when not in this suite
  int32_t tag(int task) const;
  uint64_t seed() const { return seed_; }
  const SyntheticLengths& lengths() const { return lengths_; }
  // The longest example any task of this suite can produce (prompt + response).
  int64_t max_example_tokens() const;

  // Example `index` of task `task` (0-based in tasks()) from `split`; Example::task = task.
  Example example(int task, uint64_t index, Split split = Split::Train) const;
  // The split an example's input belongs to, from its prompt alone.
  static Split split_of(const std::vector<int32_t>& prompt);

 private:
  std::vector<std::string> tasks_;
  std::vector<int> kinds_;  // index into all_tasks() per task
  uint64_t seed_;
  SyntheticLengths lengths_;
};

}  // namespace neft::data
