#include "model/tensor_parallel.h"

#include "parallel/mappings.h"
#include "runtime/error.h"

namespace neft::model {

void TensorParallel::copy_to_tp_backward(Tensor& dx) const {
  if (size > 1) parallel::copy_to_tp_backward(dx, *comm);
}

void TensorParallel::reduce_from_tp_forward(Tensor& y) const {
  if (size > 1) parallel::reduce_from_tp_forward(y, *comm);
}

int64_t TensorParallel::local(int64_t n, const std::string& what) const {
  if (n % size != 0)
    fail("tensor parallelism: tp ", size, " does not divide ", what, " ", n,
         " (every rank must hold whole ", what, ")");
  return n / size;
}

}  // namespace neft::model
