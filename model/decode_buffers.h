// LlamaModel::decode's buffers for its last [B, T] (llama_decode.cpp).
#pragma once
#include <cstdint>

#include "model/block.h"
#include "runtime/tensor.h"

namespace neft::model {

struct DecodeBuffers {
  int64_t B = 0, T = 0;
  BlockActivations scratch;           // one block's, reused by every block
  Tensor x, y;                        // [N, C]: a block's input and output, swapped after each
  Tensor last, normed, rstd, logits;  // [B, C], [B, C], [B], [B, V_local]
};

}  // namespace neft::model
