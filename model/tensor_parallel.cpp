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

namespace {
Tensor with_rows(const Tensor& like, int64_t rows) {
  Shape shape = like.shape();
  shape.at(0) = rows;
  return Tensor::empty(shape, like.dtype(), like.device());
}
}  // namespace

Tensor TensorParallel::whole_tokens(const Tensor& t) const {
  return split_tokens ? with_rows(t, t.size(0) * size) : t;
}

Tensor TensorParallel::token_shard(const Tensor& t) const {
  return split_tokens ? with_rows(t, t.size(0) / size) : t;
}

Tensor TensorParallel::column_input(const Tensor& x) const {
  if (!split_tokens) return x;
  Tensor whole = whole_tokens(x);
  parallel::gather_from_sp_forward(x, whole, *comm);
  return whole;
}

void TensorParallel::column_input_grad(Tensor& dinput, Tensor& dx) const {
  if (split_tokens)
    parallel::gather_from_sp_backward(dinput, dx, *comm);
  else
    copy_to_tp_backward(dx);
}

void TensorParallel::row_output(Tensor& partial, Tensor& y) const {
  if (split_tokens)
    parallel::reduce_scatter_to_sp_forward(partial, y, *comm);
  else
    reduce_from_tp_forward(y);
}

int64_t TensorParallel::local(int64_t n, const std::string& what) const {
  if (n % size != 0)
    fail("tensor parallelism: tp ", size, " does not divide ", what, " ", n,
         " (every rank must hold whole ", what, ")");
  return n / size;
}

}  // namespace neft::model
