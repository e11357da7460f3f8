#include "train/evaluate.h"

#include <algorithm>
#include <climits>
#include <cstdint>

#include "data/eval.h"
#include "parallel/pipeline_schedule.h"

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

void pipeline_forwards(model::LlamaModel& model, const std::vector<data::BatchTensors>& batches,
                       parallel::Communicator& pp, const std::function<void(size_t)>& on_last) {
  const bool last = pp.rank() == pp.size() - 1;
  parallel::run_forward_only(
      pp, int(batches.size()),
      [&](int mb, const Tensor* input) -> const Tensor& {
        const data::BatchTensors& t = batches[size_t(mb)];
        model.forward(t.tokens, t.targets, t.positions, input ? *input : Tensor());
        if (last) on_last(size_t(mb));
        return model.output();
      },
      [&](int mb) {
        const Tensor& tokens = batches[size_t(mb)].tokens;
        return Tensor::empty({model.residual_rows(tokens.numel()), model.config().hidden},
                             model.options().dtype, model.options().device);
      });
}

std::vector<float> mean_final_hidden(model::LlamaModel& model,
                                     const std::vector<data::Batch>& batches,
                                     parallel::Communicator* pp) {
  const int64_t C = model.config().hidden;
  std::vector<double> sum(size_t(C), 0.0);
  int64_t rows = 0;
  auto add = [&] {
    const std::vector<float> h = model.final_hidden().to_floats();
    for (size_t i = 0; i < h.size(); ++i) sum[i % size_t(C)] += h[i];
    rows += int64_t(h.size()) / C;
  };
  std::vector<data::BatchTensors> tensors;
  for (const data::Batch& b : batches)
    tensors.push_back(data::to_tensors(b, model.options().device));
  if (pp && pp->size() > 1) {
    pipeline_forwards(model, tensors, *pp, [&](size_t) { add(); });
  } else {
    for (const data::BatchTensors& t : tensors) {
      model.forward(t.tokens, t.targets, t.positions);
      add();
    }
  }
  Tensor mean = Tensor::empty({C}, DType::F32);
  for (int64_t c = 0; c < C; ++c) mean.data<float>()[c] = float(sum[size_t(c)] / double(rows));
  if (pp && pp->size() > 1) pp->broadcast(mean, pp->size() - 1);
  return mean.to_floats();
}

std::vector<EvalForward> eval_forwards(model::LlamaModel& model,
                                       const std::vector<data::BatchTensors>& batches,
                                       parallel::Communicator* pp) {
  const model::TensorParallel& tp = model.options().tp;
  const int64_t vocab_start = tp.offset(model.config().vocab, "vocab_size");
  std::vector<EvalForward> out(batches.size());
  // The last stage's (or the one rank's) losses and argmax of batch i, after its forward.
  auto read = [&](size_t i) {
    out[i].token_losses = model.token_losses().to_floats();
    out[i].argmax = vocab_parallel_argmax(model.logits(), vocab_start, tp);
  };
  if (!pp || pp->size() == 1) {
    for (size_t i = 0; i < batches.size(); ++i) {
      model.forward(batches[i].tokens, batches[i].targets, batches[i].positions);
      read(i);
    }
  } else {
    pipeline_forwards(model, batches, *pp, read);
    // Once every batch went through: the last stage's numbers to every stage.
    const int last = pp->size() - 1;
    for (size_t i = 0; i < batches.size(); ++i) {
      const int64_t N = batches[i].tokens.numel();
      Tensor losses = Tensor::empty({N}, DType::F32), argmax = Tensor::empty({N}, DType::I32);
      if (pp->rank() == last) {
        std::copy(out[i].token_losses.begin(), out[i].token_losses.end(), losses.data<float>());
        std::copy(out[i].argmax.begin(), out[i].argmax.end(), argmax.data<int32_t>());
      }
      pp->broadcast(losses, last);
      pp->broadcast(argmax, last);
      out[i].token_losses = losses.to_floats();
      out[i].argmax.assign(argmax.data<int32_t>(), argmax.data<int32_t>() + N);
    }
  }
  // The sums in token order from the per-token losses: the same numbers on every rank and
  // layout (the model's own sums are the last stage's alone).
  for (size_t i = 0; i < batches.size(); ++i) {
    const std::vector<int32_t> targets = batches[i].targets.to_ints();
    for (size_t j = 0; j < targets.size(); ++j)
      if (targets[j] != model::kIgnoreIndex) {
        out[i].loss_sum += double(out[i].token_losses[j]);
        ++out[i].tokens;
      }
  }
  return out;
}

std::vector<TaskScore> evaluate_synthetic(model::LlamaModel& model,
                                          const data::SyntheticSuite& suite, int64_t examples,
                                          int64_t micro_batch, int64_t seq_len, data::Split split,
                                          parallel::Communicator* pp) {
  if (model.config().vocab < suite.vocab_size())
    fail("eval: the model's vocabulary (", model.config().vocab,
         ") is smaller than the synthetic suite's (", suite.vocab_size(), ")");
  const Device device = model.options().device;
  std::vector<TaskScore> scores;
  for (int task = 0; task < suite.num_tasks(); ++task) {
    TaskScore s{suite.task_name(task)};
    double loss_sum = 0.0;
    int64_t tokens = 0, correct = 0;
    const std::vector<data::Batch> batches =
        data::synthetic_eval_batches(suite, task, examples, micro_batch, seq_len, split);
    std::vector<data::BatchTensors> tensors;
    for (const data::Batch& b : batches) tensors.push_back(data::to_tensors(b, device));
    const std::vector<EvalForward> forwards = eval_forwards(model, tensors, pp);
    for (size_t i = 0; i < batches.size(); ++i) {
      const EvalForward& f = forwards[i];
      loss_sum += f.loss_sum;
      tokens += f.tokens;
      for (bool ok : data::exact_match(batches[i], f.argmax)) correct += ok;
      s.examples += batches[i].B;
    }
    s.loss = tokens ? loss_sum / double(tokens) : 0.0;
    s.accuracy = s.examples ? double(correct) / double(s.examples) : 0.0;
    scores.push_back(s);
  }
  return scores;
}

namespace {

struct RowScore {
  double loss_sum = 0.0;  // over the row's counted tokens
  bool exact = false;
  int64_t tokens = 0;
};

// Batches one eval_forwards call takes: enough to keep a pipeline's stages streaming, few enough
// that a large dataset's token tensors and per-token results are never all held at once.
constexpr size_t kBatchesPerCall = 32;

// Every example alone in its row, micro_batch rows a forward.
std::vector<RowScore> score_rows(model::LlamaModel& model,
                                 const std::vector<const data::Example*>& rows, int64_t micro_batch,
                                 parallel::Communicator* pp) {
  std::vector<RowScore> out;
  const size_t per_call = kBatchesPerCall * size_t(micro_batch);
  for (size_t chunk = 0; chunk < rows.size(); chunk += per_call) {
    const size_t chunk_end = std::min(rows.size(), chunk + per_call);
    std::vector<data::Batch> batches;
    std::vector<data::BatchTensors> tensors;
    for (size_t first = chunk; first < chunk_end; first += size_t(micro_batch)) {
      const size_t n = std::min(chunk_end - first, size_t(micro_batch));
      int64_t T = 1;
      for (size_t i = 0; i < n; ++i) T = std::max(T, data::example_tokens(*rows[first + i]));
      data::Batch b = data::Batch::padded(int64_t(n), T);
      for (size_t i = 0; i < n; ++i) data::place_example(*rows[first + i], b, int64_t(i), 0);
      tensors.push_back(data::to_tensors(b, model.options().device));
      batches.push_back(std::move(b));
    }
    const std::vector<EvalForward> forwards = eval_forwards(model, tensors, pp);
    for (size_t k = 0; k < batches.size(); ++k) {
      const data::Batch& b = batches[k];
      const int64_t T = b.T;
      const std::vector<float>& losses = forwards[k].token_losses;
      const std::vector<bool> exact = data::exact_match(b, forwards[k].argmax);
      for (int64_t i = 0; i < b.B; ++i) {
        RowScore r;
        r.exact = exact[size_t(i)];
        for (int64_t c = 0; c < T; ++c)
          if (b.targets[size_t(i * T + c)] != data::kIgnoreIndex) {
            r.loss_sum += double(losses[size_t(i * T + c)]);
            ++r.tokens;
          }
        out.push_back(r);
      }
    }
  }
  return out;
}

}  // namespace

std::vector<TaskScore> evaluate_dataset(model::LlamaModel& model, const data::SftDataset& data,
                                        int64_t micro_batch, parallel::Communicator* pp) {
  const int64_t limit = model.config().max_positions;
  for (size_t i = 0; i < data.examples.size(); ++i)
    if (data::example_tokens(data.examples[i]) > limit)
      fail(data.path, ":", data.lines[i], ": ", data::example_tokens(data.examples[i]),
           " tokens, more than the model's ", limit, " positions");
  const size_t tasks = std::max<size_t>(data.task_names.size(), 1);
  auto task_of = [&](int task) {
    return task < 0 ? (data.task_names.empty() ? 0 : tasks) : size_t(task);
  };
  // Tasks in order, then "all" for lines without one when others have one.
  std::vector<TaskScore> scores(tasks + (data.task_names.empty() ? 0 : 1));
  for (size_t t = 0; t < scores.size(); ++t)
    scores[t].task = t < data.task_names.size() ? data.task_names[t] : "all";

  std::vector<const data::Example*> rows;
  for (const data::Example& e : data.examples) rows.push_back(&e);
  const std::vector<RowScore> r = score_rows(model, rows, micro_batch, pp);
  std::vector<double> loss(scores.size(), 0.0);
  std::vector<int64_t> tokens(scores.size(), 0), correct(scores.size(), 0);
  for (size_t i = 0; i < r.size(); ++i) {
    const size_t t = task_of(data.examples[i].task);
    loss[t] += r[i].loss_sum;
    tokens[t] += r[i].tokens;
    correct[t] += r[i].exact;
    ++scores[t].examples;
  }

  std::vector<const data::Example*> options;
  for (const data::ChoiceItem& item : data.choices)
    for (const data::Example& e : item.options) options.push_back(&e);
  const std::vector<RowScore> o = score_rows(model, options, micro_batch, pp);
  std::vector<int64_t> right(scores.size(), 0), right_norm(scores.size(), 0);
  size_t k = 0;
  for (const data::ChoiceItem& item : data.choices) {
    // The most likely choice (the first of equals), by total and per-byte log-likelihood.
    size_t best = 0, best_norm = 0;
    for (size_t c = 0; c < item.options.size(); ++c) {
      const double ll = -o[k + c].loss_sum, best_ll = -o[k + best].loss_sum;
      if (ll > best_ll) best = c;
      const double per_byte = ll / double(item.choice_bytes[c]);
      if (per_byte > -o[k + best_norm].loss_sum / double(item.choice_bytes[best_norm]))
        best_norm = c;
    }
    k += item.options.size();
    const size_t t = task_of(item.task);
    ++scores[t].choice_items;
    right[t] += best == size_t(item.answer);
    right_norm[t] += best_norm == size_t(item.answer);
  }
  for (size_t t = 0; t < scores.size(); ++t) {
    TaskScore& s = scores[t];
    s.loss = tokens[t] ? loss[t] / double(tokens[t]) : 0.0;
    s.accuracy = s.examples ? double(correct[t]) / double(s.examples) : 0.0;
    s.choice_accuracy = s.choice_items ? double(right[t]) / double(s.choice_items) : 0.0;
    s.choice_accuracy_norm = s.choice_items ? double(right_norm[t]) / double(s.choice_items) : 0.0;
  }
  // A task with nothing in it (all lines named tasks, so "all" is empty) is left out.
  std::erase_if(scores, [](const TaskScore& s) { return s.examples == 0 && s.choice_items == 0; });
  return scores;
}

}  // namespace neft::train
