// LlamaModel's inference path for generation: embedding, every block over a KV cache, and the
// head on each row's last column only (llama.h, kv_cache.h).
#include <utility>

#include "model/block.h"
#include "model/decode_buffers.h"
#include "model/linear.h"
#include "model/llama.h"
#include "runtime/ops/embedding.h"
#include "runtime/ops/gather_scatter.h"
#include "runtime/ops/rmsnorm.h"

namespace neft::model {

KvCache LlamaModel::make_cache(int64_t B, int64_t capacity) const {
  if (options_.pp_stages > 1)
    fail("generation runs the whole model on every rank; pipeline parallelism (",
         options_.pp_stages, " stages) is for training: use --tp");
  if (B <= 0 || capacity <= 0) fail("a KV cache needs B, capacity > 0, got ", B, ", ", capacity);
  if (capacity > config_.max_positions)
    fail("generation of ", capacity, " tokens exceeds max_position_embeddings ",
         config_.max_positions, " of ", config_.name);
  const int64_t kv_heads = options_.tp.local(config_.kv_heads, "num_key_value_heads");
  KvCache cache;
  cache.B = B;
  cache.capacity = capacity;
  for (size_t l = 0; l < blocks_.size(); ++l)
    for (auto* list : {&cache.k, &cache.v})
      list->push_back(Tensor::zeros({B, capacity, kv_heads, config_.head_dim}, options_.dtype,
                                    options_.device));
  cache.key_start = Tensor::zeros({B}, DType::I32, options_.device);
  return cache;
}

const Tensor& LlamaModel::decode(const Tensor& tokens, const Tensor& positions, KvCache& cache) {
  NEFT_CHECK(tokens.dim() == 2 && positions.defined() && positions.shape() == tokens.shape(),
             "decode: tokens and positions must be [B, T], got ", tokens.str(), " and ",
             positions.str());
  const int64_t B = tokens.size(0), T = tokens.size(1), N = B * T;
  options_.tp.split_tokens = false;  // decoding keeps every token on every rank
  NEFT_CHECK(cache.B == B && int64_t(cache.k.size()) == int64_t(blocks_.size()),
             "decode: the cache is for ", cache.B, " rows, the tokens have ", B);
  if (cache.length + T > cache.capacity)
    fail("decode: ", cache.length, " + ", T, " tokens exceed the KV cache's ", cache.capacity);
  const Device d = options_.device;
  const DType dt = options_.dtype;
  if (!decode_ || decode_->B != B || decode_->T != T) {
    decode_ = std::make_unique<DecodeBuffers>();
    decode_->B = B;
    decode_->T = T;
    decode_->scratch.allocate(config_, options_.tp, B, T, d, dt);
    decode_->x = Tensor::empty({N, config_.hidden}, dt, d);
    decode_->y = Tensor::empty({N, config_.hidden}, dt, d);
    decode_->last = Tensor::empty({B, config_.hidden}, dt, d);
    decode_->normed = Tensor::empty({B, config_.hidden}, dt, d);
    decode_->rstd = Tensor::empty({B}, DType::F32, d);
    decode_->logits = Tensor::empty({B, head().value.size(0)}, dt, d);
  }
  DecodeBuffers& buf = *decode_;
  // Cache rows (of the [B * capacity, kv_dim] view) the new columns go to, and the rows of
  // each row's last column.
  std::vector<int32_t> rows(static_cast<size_t>(N)), last(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < T; ++i)
      rows[size_t(b * T + i)] = int32_t(b * cache.capacity + cache.length + i);
    last[size_t(b)] = int32_t(b * T + T - 1);
  }
  const Tensor cache_rows = Tensor::from_ints(rows, {N}, d);
  const Tensor last_rows = Tensor::from_ints(last, {B}, d);
  TokenLayout layout;
  layout.B = B;
  layout.T = T;
  layout.positions = positions.view({N});

  ops::embedding_forward(tokens.view({N}), embed_.value, vocab_start_, buf.x);
  options_.tp.reduce_from_tp_forward(buf.x);
  cache.length += T;
  for (size_t l = 0; l < blocks_.size(); ++l) {
    blocks_[l]->forward_cached(buf.x, layout, cache.k[l], cache.v[l], cache.length, cache.key_start,
                               cache_rows, buf.scratch, buf.y);
    std::swap(buf.x, buf.y);
  }
  ops::gather_rows(buf.x, last_rows, buf.last);
  ops::rmsnorm_forward(buf.last, final_norm_.value, config_.rms_eps, buf.normed, buf.rstd);
  linear_forward(buf.normed, head(), buf.logits);
  return buf.logits;
}

}  // namespace neft::model
