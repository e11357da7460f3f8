// Internal to the CUDA backend: error checks, the current stream as a cudaStream_t and
// the shared cuBLASLt handle and workspace. Included by runtime/cuda/*.cpp and every .cu.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include "runtime/error.h"

#define NEFT_CUDA_CHECK(expr)                                                            \
  do {                                                                                   \
    cudaError_t e_ = (expr);                                                             \
    if (e_ != cudaSuccess)                                                               \
      ::neft::fail("CUDA error ", cudaGetErrorString(e_), " at " __FILE__ ":", __LINE__, \
                   " in " #expr);                                                        \
  } while (0)

#define NEFT_CUBLAS_CHECK(expr)                                                                 \
  do {                                                                                          \
    cublasStatus_t s_ = (expr);                                                                 \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                            \
      ::neft::fail("cuBLAS error ", cublasLtGetStatusString(s_), " at " __FILE__ ":", __LINE__, \
                   " in " #expr);                                                               \
  } while (0)

// After a kernel launch: report launch errors at the launch site.
#define NEFT_CUDA_LAUNCH_CHECK() NEFT_CUDA_CHECK(cudaGetLastError())

namespace neft::cuda_detail {

cudaStream_t stream();  // the current stream
cublasLtHandle_t cublaslt();
void* cublaslt_workspace(size_t* bytes);
int sm_count();

}  // namespace neft::cuda_detail
