#include "train/generation.h"

#include <algorithm>
#include <span>

#include "parallel/mappings.h"
#include "runtime/error.h"
#include "train/evaluate.h"

namespace neft::train {

namespace {

// The next token of every row from the last column's logits [B, V_local].
std::vector<int32_t> pick(model::LlamaModel& m, const Tensor& logits, const SamplingOptions& s,
                          size_t first_prompt, uint64_t step) {
  const model::TensorParallel& tp = m.options().tp;
  const int64_t V = m.config().vocab, B = logits.size(0);
  if (s.greedy()) return vocab_parallel_argmax(logits, tp.offset(V, "vocab_size"), tp);
  Tensor full = logits;
  if (tp.size > 1) {
    full = Tensor::empty({B, V}, logits.dtype(), logits.device());
    parallel::gather_from_tp(logits, full, *tp.comm);
  }
  const std::vector<float> all = full.to_floats();
  std::vector<int32_t> ids(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b)
    ids[size_t(b)] = sample_token(std::span<const float>(all).subspan(size_t(b * V), size_t(V)), s,
                                  first_prompt + size_t(b), step);
  return ids;
}

}  // namespace

std::vector<Generated> generate(model::LlamaModel& model,
                                const std::vector<std::vector<int32_t>>& prompts,
                                const GenerationOptions& o, const TokenCallback& on_token) {
  if (o.max_new_tokens <= 0) fail("--max-new-tokens must be positive, got ", o.max_new_tokens);
  if (o.batch <= 0) fail("--batch-size must be positive, got ", o.batch);
  o.sampling.validate();
  const Device device = model.options().device;
  const int64_t limit = model.config().max_positions;
  std::vector<Generated> out(prompts.size());
  for (size_t first = 0; first < prompts.size(); first += size_t(o.batch)) {
    const size_t n = std::min(prompts.size() - first, size_t(o.batch));
    int64_t longest = 0;
    for (size_t i = 0; i < n; ++i) {
      const auto& p = prompts[first + i];
      if (p.empty()) fail("prompt ", first + i, " is empty: nothing to continue");
      if (int64_t(p.size()) >= limit)
        fail("prompt ", first + i, " has ", p.size(), " tokens, no room below the model's ", limit,
             " positions");
      longest = std::max(longest, int64_t(p.size()));
    }
    const int64_t B = int64_t(n), steps = std::min(o.max_new_tokens, limit - longest);
    model::KvCache cache = model.make_cache(B, longest + steps);
    // Left padding: row b's prompt ends at column longest - 1, its text starts at key_start.
    std::vector<int32_t> tokens(size_t(B * longest), 0), positions(size_t(B * longest), 0),
        start(static_cast<size_t>(B)), length(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      const auto& p = prompts[first + size_t(b)];
      length[size_t(b)] = int32_t(p.size());
      start[size_t(b)] = int32_t(longest - int64_t(p.size()));
      for (size_t i = 0; i < p.size(); ++i) {
        tokens[size_t(b * longest + start[size_t(b)]) + i] = p[i];
        positions[size_t(b * longest + start[size_t(b)]) + i] = int32_t(i);
      }
    }
    cache.key_start = Tensor::from_ints(start, {B}, device);
    const Tensor* logits = &model.decode(Tensor::from_ints(tokens, {B, longest}, device),
                                         Tensor::from_ints(positions, {B, longest}, device), cache);
    std::vector<bool> done(size_t(B), false);
    for (int64_t step = 0; step < steps; ++step) {
      const std::vector<int32_t> next = pick(model, *logits, o.sampling, first, uint64_t(step));
      bool all_done = true;
      for (int64_t b = 0; b < B; ++b) {
        if (done[size_t(b)]) continue;
        Generated& g = out[first + size_t(b)];
        g.ids.push_back(next[size_t(b)]);
        if (on_token) on_token(first + size_t(b), next[size_t(b)]);
        g.stopped_at_eos =
            std::find(o.eos.begin(), o.eos.end(), int64_t(next[size_t(b)])) != o.eos.end();
        done[size_t(b)] = g.stopped_at_eos;
        all_done = all_done && done[size_t(b)];
      }
      if (all_done || step + 1 == steps) break;
      // Every row takes its token (a finished row's is ignored) at its next position.
      std::vector<int32_t> pos(static_cast<size_t>(B));
      for (int64_t b = 0; b < B; ++b) pos[size_t(b)] = int32_t(length[size_t(b)] + step);
      logits = &model.decode(Tensor::from_ints(next, {B, 1}, device),
                             Tensor::from_ints(pos, {B, 1}, device), cache);
    }
  }
  return out;
}

}  // namespace neft::train
