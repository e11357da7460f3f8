#include "lora/lora_dropout.h"

#include "runtime/error.h"
#include "runtime/rng.h"

namespace neft::lora {

namespace {
// The offset of the per-step key's draw: no other stream of the run seed uses it (A's
// initialisation takes offsets that are multiples of 2^40).
constexpr uint64_t kDropoutStream = 0x44524f50u;  // "DROP"
}  // namespace

ops::DropoutMask dropout_mask(float p, uint64_t seed, const model::MicroBatchKey& key,
                              int64_t layer, int64_t target, int64_t full_cols, int64_t col0) {
  NEFT_CHECK(key.step >= 0 && key.index >= 0 && key.index < (int64_t(1) << 32) && layer >= 0 &&
                 layer < (int64_t(1) << 29) && target >= 0 && target < 8,
             "lora dropout: key out of range (step ", key.step, ", micro-batch ", key.index,
             ", layer ", layer, ", target ", target, ")");
  // Philox's key is 64 bits and its counter 128: the step goes into the key (drawn from the
  // run seed, so that each step's masks are a stream of their own), the micro-batch, layer and
  // target into the offset, and the entry's place in the whole input into the index.
  const rng::U32x4 w = rng::random_words(seed, kDropoutStream, uint64_t(key.step));
  ops::DropoutMask m;
  m.p = p;
  m.seed = uint64_t(w.v[0]) | uint64_t(w.v[1]) << 32;
  m.offset = uint64_t(key.index) << 32 | uint64_t(layer) << 3 | uint64_t(target);
  m.full_cols = full_cols;
  m.col0 = col0;
  return m;
}

Tensor DropoutBuffer::get(int64_t rows, int64_t cols, DType dtype, Device device) {
  const int64_t n = rows * cols;
  if (!storage_.defined() || storage_.numel() < n || storage_.dtype() != dtype ||
      storage_.device() != device) {
    storage_ = Tensor();  // freed before the larger one is allocated
    storage_ = Tensor::empty({n}, dtype, device);
  }
  return storage_.rows(0, n).view({rows, cols});
}

}  // namespace neft::lora
