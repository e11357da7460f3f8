// Attention of new queries over a KV cache, for generation. Row b's cache holds the keys and
// values of columns 0..length-1, of which columns key_start[b].. are its text (left padding
// before them); the t queries are the last t columns, length - t .. length - 1, and each
// attends causally to the text's columns up to its own: query i (column c = length - t + i)
// reads keys key_start[b]..c. A query left of key_start[b] (padding) reads nothing and gets
// zeros. This is attention_forward's causal rule, with the cache in place of the row, so a
// prompt's prefill followed by one-token steps computes what one forward over the whole
// sequence computes (up to the order of the fp32 sums).
//
// q, out: [B, t, Hq, D]; k_cache, v_cache: [B, capacity, Hkv, D] with Hkv dividing Hq
// (grouped-query heads) and t <= length <= capacity; key_start: [B] i32.
// CPU: f32. CUDA: f32, bf16, f16 (fp32 arithmetic).
#pragma once
#include <cstdint>

#include "runtime/tensor.h"

namespace neft::ops {

void attention_cached(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int64_t length,
                      const Tensor& key_start, Tensor& out);

template <Device D>
void attention_cached(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int64_t length,
                      const Tensor& key_start, Tensor& out);

}  // namespace neft::ops
