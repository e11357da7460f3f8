// GEMM: C = alpha * op(A) @ op(B) + beta * C, every matrix row-major and contiguous.
//   op(A) is [M, K]: A is [M, K], or [K, M] when trans_a.
//   op(B) is [K, N]: B is [K, N], or [N, K] when trans_b.
//   C is [M, N]; with beta != 0 it is read as well as written (C is both input and output).
// 3-D tensors [batch, rows, cols] run one strided-batched GEMM; A, B and C then all have the
// same batch. This is how linear layers go forward (y = x W^T: trans_b) and backward
// (dx = dy W, dW += dy^T x with beta = 1).
// CPU: f32, one cblas_sgemm per batch entry (OpenBLAS). CUDA: cuBLASLt; A and B of one dtype
// (f32, bf16 or f16), C f32 or the dtype of A and B; fp32 accumulation (no TF32).
#pragma once
#include "runtime/tensor.h"

namespace neft::ops {

void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
          float alpha = 1.0f, float beta = 0.0f);

template <Device D>
void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c, float alpha,
          float beta);

}  // namespace neft::ops
