// Where the N = B*T tokens of a batch sit: positions [N] i32 for RoPE, and doc_start [B, T]
// i32, the first token of each one's document, for attention (undefined: every row is one
// document, plain causal attention). See runtime/ops/document_starts.h.
#pragma once
#include <cstdint>

#include "runtime/tensor.h"

namespace neft::model {

struct TokenLayout {
  int64_t B = 0, T = 0;
  Tensor positions, doc_start;
};

}  // namespace neft::model
