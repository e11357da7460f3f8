// The CPU attention backward has two schedules (ops/cpu/attention.cpp): one task per head
// when there are at least as many (batch, head) pairs as threads, else tasks per query block
// (dQ) and per key block (dK, dV). Both must give the same bits, with and without documents:
// the thread count must not change a run. One thread takes the first; eight threads on a
// single (batch, head) pair take the second.
#include <gtest/gtest.h>
#include <omp.h>

#include "runtime/ops/attention.h"
#include "runtime/ops/document_starts.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

struct Result {
  std::vector<float> out, dq, dk, dv;
};

Result run(int threads, const Tensor& positions) {
  const int64_t B = 1, T = 300, Hq = 2, Hkv = 1, D = 16;
  const Tensor q = random_tensor({B, T, Hq, D}, 1, -2.0f, 2.0f),
               k = random_tensor({B, T, Hkv, D}, 2), v = random_tensor({B, T, Hkv, D}, 3),
               dout = random_tensor({B, T, Hq, D}, 4);
  Tensor starts;
  if (positions.defined()) {
    starts = Tensor::empty({B, T}, DType::I32);
    ops::document_starts(positions, starts);
  }
  Tensor out = Tensor::empty(q.shape(), DType::F32), lse = Tensor::empty({B, Hq, T}, DType::F32);
  Tensor dq = Tensor::empty(q.shape(), DType::F32), dk = Tensor::empty(k.shape(), DType::F32),
         dv = Tensor::empty(v.shape(), DType::F32);
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  ops::attention_forward(q, k, v, out, lse, starts);
  ops::attention_backward(dout, q, k, v, out, lse, dq, dk, dv, starts);
  omp_set_num_threads(before);
  return {out.to_floats(), dq.to_floats(), dk.to_floats(), dv.to_floats()};
}

void expect_same_bits(const Tensor& positions) {
  const Result a = run(1, positions), b = run(8, positions);
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.dq, b.dq);
  EXPECT_EQ(a.dk, b.dk);
  EXPECT_EQ(a.dv, b.dv);
}

TEST(AttentionSchedules, AgreeBitForBit) { expect_same_bits(Tensor()); }

TEST(AttentionSchedules, AgreeBitForBitWithDocuments) {
  // Documents of 70, 1, 100 and 129 tokens: boundaries inside, and one on either side of, a
  // 64-token tile.
  std::vector<int32_t> pos;
  for (int len : {70, 1, 100, 129})
    for (int i = 0; i < len; ++i) pos.push_back(i);
  expect_same_bits(Tensor::from_ints(pos, {1, 300}));
}

}  // namespace
}  // namespace neft::testing
