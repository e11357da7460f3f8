#include "launch/evaluate.h"

#include "data/eval.h"

namespace neft::launch {

namespace {
// Row-wise argmax of [N, V] logits on the host.
std::vector<int32_t> argmax_rows(const Tensor& logits) {
  const std::vector<float> l = logits.to_floats();
  const int64_t N = logits.size(0), V = logits.size(1);
  std::vector<int32_t> out(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    const float* row = l.data() + i * V;
    int64_t best = 0;
    for (int64_t j = 1; j < V; ++j)
      if (row[j] > row[best]) best = j;
    out[size_t(i)] = int32_t(best);
  }
  return out;
}
}  // namespace

std::vector<TaskScore> evaluate_synthetic(model::LlamaModel& model,
                                          const data::SyntheticSuite& suite, int64_t examples,
                                          int64_t micro_batch, int64_t seq_len) {
  if (model.config().vocab < suite.vocab_size())
    fail("eval: the model's vocabulary (", model.config().vocab,
         ") is smaller than the synthetic suite's (", suite.vocab_size(), ")");
  const Device device = model.options().device;
  std::vector<TaskScore> scores;
  for (int task = 0; task < suite.num_tasks(); ++task) {
    TaskScore s{suite.task_name(task)};
    double loss_sum = 0.0;
    int64_t tokens = 0, correct = 0;
    for (const data::Batch& b :
         data::synthetic_eval_batches(suite, task, examples, micro_batch, seq_len)) {
      const model::LossSums sums =
          model.forward(Tensor::from_ints(b.tokens, {b.B, b.T}, device),
                        Tensor::from_ints(b.targets, {b.B, b.T}, device),
                        Tensor::from_ints(b.positions, {b.B, b.T}, device));
      loss_sum += sums.loss_sum;
      tokens += sums.tokens;
      for (bool ok : data::exact_match(b, argmax_rows(model.logits()))) correct += ok;
      s.examples += b.B;
    }
    s.loss = tokens ? loss_sum / double(tokens) : 0.0;
    s.accuracy = s.examples ? double(correct) / double(s.examples) : 0.0;
    scores.push_back(s);
  }
  return scores;
}

}  // namespace neft::launch
