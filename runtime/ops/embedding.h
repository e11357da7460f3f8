// Embedding lookup in its vocabulary-parallel form: this rank's table holds the rows of
// token ids [vocab_start, vocab_start + V). Ids outside the shard give zero rows (another
// rank holds them; the model sums the shards).
// tokens: [N] i32; table, dtable: [V, C]; out, dout: [N, C].
// CPU: f32. CUDA: table and out one float dtype; dout and dtable each f32, bf16 or f16
// (dtable may be f32 while table is bf16).
#pragma once
#include <cstdint>

#include "runtime/tensor.h"

namespace neft::ops {

// Overwrites out: out[n] = table[tokens[n] - vocab_start] when in the shard, else zeros.
void embedding_forward(const Tensor& tokens, const Tensor& table, int64_t vocab_start, Tensor& out);
// Accumulates dtable[tokens[n] - vocab_start] += dout[n] for the ids in the shard.
// Deterministic on CUDA without atomics: the (row, n) pairs are radix-sorted by row (a stable
// sort, so n stays ascending within a row); one block per distinct row sums its dout rows in
// that order in fp32 and adds the sum to dtable once. V must be below 2^31.
void embedding_backward(const Tensor& dout, const Tensor& tokens, int64_t vocab_start,
                        Tensor& dtable);

template <Device D>
void embedding_forward(const Tensor& tokens, const Tensor& table, int64_t vocab_start, Tensor& out);
template <Device D>
void embedding_backward(const Tensor& dout, const Tensor& tokens, int64_t vocab_start,
                        Tensor& dtable);

}  // namespace neft::ops
