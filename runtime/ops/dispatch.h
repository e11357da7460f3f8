// How an op reaches its backend. Each op declares one public function (validates its
// arguments once) and a template of the same signature specialised per device in
// ops/cpu/<op>.cpp and ops/cuda/<op>.cu; NEFT_DISPATCH picks the specialisation. A build
// without CUDA never names the CUDA specialisation, so it links and fails with a message.
// `device` is evaluated exactly once (it may be the call that checks the arguments).
#pragma once
#include <initializer_list>
#include <string>

#include "runtime/device.h"
#include "runtime/tensor.h"

#ifdef NEFT_WITH_CUDA
#define NEFT_DISPATCH(device, fn, ...)                  \
  do {                                                  \
    if (::neft::Device(device) == ::neft::Device::CUDA) \
      return fn<::neft::Device::CUDA>(__VA_ARGS__);     \
    return fn<::neft::Device::CPU>(__VA_ARGS__);        \
  } while (0)
#else
#define NEFT_DISPATCH(device, fn, ...)                                             \
  do {                                                                             \
    if (::neft::Device(device) == ::neft::Device::CUDA) ::neft::fail_no_cuda(#fn); \
    return fn<::neft::Device::CPU>(__VA_ARGS__);                                   \
  } while (0)
#endif

namespace neft::ops {

// Argument checks shared by every op: one-line messages naming the op and the argument.
void check_defined(const char* op, const char* name, const Tensor& t);
// t is defined and has `rank` dimensions; `layout` names them in the message, e.g. "[N, C]".
void check_rank(const char* op, const char* name, const Tensor& t, int rank, const char* layout);
void check_shape(const char* op, const char* name, const Tensor& t, const Shape& expected);
void check_dtype(const char* op, const char* name, const Tensor& t,
                 std::initializer_list<DType> allowed);
// All defined tensors on one device; returns it.
Device common_device(const char* op, std::initializer_list<const Tensor*> tensors);
// CPU kernels are fp32 (the reference); CUDA kernels also take bf16/f16.
void check_float_for_device(const char* op, const char* name, const Tensor& t);

}  // namespace neft::ops
