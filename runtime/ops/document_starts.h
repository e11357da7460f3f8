// Where each token's document begins, read off its positions. A packed row holds several
// documents (examples) one after another, each with positions that restart; a document
// begins at column 0 and wherever a position is not its predecessor's plus one. So
// starts[b, t] is the column of the latest such t' <= t. This is the convention of
// transformers (packed sequences are recognised by position_ids that restart), so a batch
// means the same to both; attention uses it to keep each query inside its document.
//
// positions, starts: [B, T] i32, one device. starts never decreases along a row and
// 0 <= starts[b, t] <= t, the contract attention_forward's doc_start asks for.
#pragma once
#include "runtime/tensor.h"

namespace neft::ops {

void document_starts(const Tensor& positions, Tensor& starts);

template <Device D>
void document_starts(const Tensor& positions, Tensor& starts);

}  // namespace neft::ops
