// Generation: prompts in, new tokens out, with a KV cache (model/kv_cache.h) and batching.
// Prompts go in batches of `batch`, each left-padded to its longest prompt; one forward over
// the prompts fills the cache (the prefill), then each step feeds every row's last token.
// A row stops at any of the eos ids (which it keeps) or after max_new_tokens; a batch ends
// when all its rows have. Every rank of a tensor-parallel model runs the same loop and picks
// the same tokens: greedy by the vocabulary-parallel argmax, sampling from the gathered row
// (sampling.h), so there is nothing to broadcast.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/llama.h"
#include "train/sampling.h"

namespace neft::train {

struct GenerationOptions {
  int64_t max_new_tokens = 256;
  int64_t batch = 8;
  std::vector<int64_t> eos;  // stop ids; empty: only max_new_tokens stops
  SamplingOptions sampling;
};

struct Generated {
  std::vector<int32_t> ids;  // the new tokens, a final eos included
  bool stopped_at_eos = false;
};

// on_token(prompt index, token) as each token is chosen (for streaming), in prompt order
// within a step.
using TokenCallback = std::function<void(size_t prompt, int32_t token)>;

std::vector<Generated> generate(model::LlamaModel& model,
                                const std::vector<std::vector<int32_t>>& prompts,
                                const GenerationOptions& options,
                                const TokenCallback& on_token = {});

}  // namespace neft::train
