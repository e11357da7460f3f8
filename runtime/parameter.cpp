#include "runtime/parameter.h"

#include <cstring>

#include "runtime/error.h"

namespace neft {

Tensor selected_rows(const Parameter& p) {
  NEFT_CHECK(p.neuron_level(), p.name, ": not a neuron-level parameter");
  const Tensor value = p.value.to(Device::CPU);
  const std::vector<int32_t> index = p.neuron_index.to_ints();
  const Shape shape = p.grad_shape();
  const int64_t K = shape[0], C = shape[1], cols = value.size(1);
  const size_t elem = dtype_size(value.dtype());
  Tensor rows = Tensor::empty(shape, value.dtype());
  char* out = static_cast<char*>(rows.raw());
  const char* in = static_cast<const char*>(value.raw());
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t at =
          p.neuron_axis == 0 ? index[size_t(k)] * cols + c : c * cols + index[size_t(k)];
      std::memcpy(out + size_t(k * C + c) * elem, in + size_t(at) * elem, elem);
    }
  return rows;
}

}  // namespace neft
