#include "train/evaluate.h"

#include <climits>
#include <cstdint>

#include "data/eval.h"

namespace neft::train {

std::vector<int32_t> vocab_parallel_argmax(const Tensor& logits, int64_t vocab_start,
                                           const model::TensorParallel& tp) {
  // Each rank finds its rows' best local entries; an all-reduce (max) of the values picks
  // each row's maximum, and one of the negated ids (max) the lowest id that reaches it.
  const std::vector<float> l = logits.to_floats();
  const int64_t N = logits.size(0), V = logits.size(1);
  std::vector<float> best_value(static_cast<size_t>(N));
  std::vector<int32_t> best_id(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    const float* row = l.data() + i * V;
    int64_t best = 0;
    for (int64_t j = 1; j < V; ++j)
      if (row[j] > row[best]) best = j;
    best_value[size_t(i)] = row[best];
    best_id[size_t(i)] = int32_t(vocab_start + best);
  }
  if (tp.size == 1) return best_id;
  Tensor values = Tensor::from_floats(best_value, {N});
  tp.comm->all_reduce(values, parallel::ReduceOp::Max);
  const std::vector<float> row_max = values.to_floats();
  std::vector<int32_t> negated(static_cast<size_t>(N));
  for (size_t i = 0; i < negated.size(); ++i)
    negated[i] = best_value[i] == row_max[i] ? -best_id[i] : INT32_MIN;
  Tensor ids = Tensor::from_ints(negated, {N});
  tp.comm->all_reduce(ids, parallel::ReduceOp::Max);
  std::vector<int32_t> out = ids.to_ints();
  for (int32_t& id : out) id = id == INT32_MIN ? 0 : -id;  // no rank reached a NaN maximum
  return out;
}

std::vector<TaskScore> evaluate_synthetic(model::LlamaModel& model,
                                          const data::SyntheticSuite& suite, int64_t examples,
                                          int64_t micro_batch, int64_t seq_len, data::Split split) {
  if (model.config().vocab < suite.vocab_size())
    fail("eval: the model's vocabulary (", model.config().vocab,
         ") is smaller than the synthetic suite's (", suite.vocab_size(), ")");
  const Device device = model.options().device;
  const model::TensorParallel& tp = model.options().tp;
  const int64_t vocab_start = tp.offset(model.config().vocab, "vocab_size");
  std::vector<TaskScore> scores;
  for (int task = 0; task < suite.num_tasks(); ++task) {
    TaskScore s{suite.task_name(task)};
    double loss_sum = 0.0;
    int64_t tokens = 0, correct = 0;
    for (const data::Batch& b :
         data::synthetic_eval_batches(suite, task, examples, micro_batch, seq_len, split)) {
      const data::BatchTensors t = data::to_tensors(b, device);
      const model::LossSums sums = model.forward(t.tokens, t.targets, t.positions);
      loss_sum += sums.loss_sum;
      tokens += sums.tokens;
      for (bool ok : data::exact_match(b, vocab_parallel_argmax(model.logits(), vocab_start, tp)))
        correct += ok;
      s.examples += b.B;
    }
    s.loss = tokens ? loss_sum / double(tokens) : 0.0;
    s.accuracy = s.examples ? double(correct) / double(s.examples) : 0.0;
    scores.push_back(s);
  }
  return scores;
}

}  // namespace neft::train
