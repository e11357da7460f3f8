#include "runtime/ops/dispatch.h"

namespace neft::ops {

void check_defined(const char* op, const char* name, const Tensor& t) {
  if (!t.defined()) fail(op, ": argument '", name, "' is an undefined tensor");
}

void check_rank(const char* op, const char* name, const Tensor& t, int rank, const char* layout) {
  check_defined(op, name, t);
  if (t.dim() != rank)
    fail(op, ": argument '", name, "' must be ", rank, "-D ", layout, ", got ", t.str());
}

void check_shape(const char* op, const char* name, const Tensor& t, const Shape& expected) {
  check_defined(op, name, t);
  if (t.shape() != expected)
    fail(op, ": argument '", name, "' has shape ", shape_str(t.shape()), ", expected ",
         shape_str(expected));
}

void check_dtype(const char* op, const char* name, const Tensor& t,
                 std::initializer_list<DType> allowed) {
  check_defined(op, name, t);
  for (DType d : allowed)
    if (t.dtype() == d) return;
  std::string names;
  for (DType d : allowed) names += std::string(names.empty() ? "" : "/") + dtype_name(d);
  fail(op, ": argument '", name, "' has dtype ", dtype_name(t.dtype()), ", expected ", names);
}

Device common_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (!first) first = t;
    if (t->device() != first->device())
      fail(op, ": tensors on different devices (", first->str(), " and ", t->str(), ")");
  }
  return first ? first->device() : Device::CPU;
}

void check_float_for_device(const char* op, const char* name, const Tensor& t) {
  if (t.device() == Device::CPU)
    check_dtype(op, name, t, {DType::F32});
  else
    check_dtype(op, name, t, {DType::F32, DType::BF16, DType::F16});
}

}  // namespace neft::ops
