#include "model/tensor_parallel.h"

#include "runtime/error.h"

namespace neft::model {

int64_t TensorParallel::local(int64_t n, const std::string& what) const {
  if (n % size != 0)
    fail("tensor parallelism: tp ", size, " does not divide ", what, " ", n,
         " (every rank must hold whole ", what, ")");
  return n / size;
}

}  // namespace neft::model
