// CUDA context: device discovery, the per-thread current stream, cuBLASLt handle.
#include "runtime/cuda/context.h"

#include "runtime/device.h"

namespace neft {
namespace cuda_detail {

static int device_count() {
  static int n = [] {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no device / no driver" error
      return 0;
    }
    return count;
  }();
  return n;
}

bool available() { return device_count() > 0; }

const char* unavailable_reason() {
  return available() ? "" : "no CUDA device visible (cudaGetDeviceCount reports none)";
}

void synchronize() { NEFT_CUDA_CHECK(cudaStreamSynchronize(stream())); }

static thread_local cudaStream_t current = nullptr;
cudaStream_t stream() { return current; }
void set_stream(cudaStream_t s) { current = s; }

cublasLtHandle_t cublaslt() {
  static cublasLtHandle_t h = [] {
    cublasLtHandle_t handle;
    NEFT_CUBLAS_CHECK(cublasLtCreate(&handle));
    return handle;
  }();
  return h;
}

void* cublaslt_workspace(size_t* bytes) {
  // 32 MiB, as cuBLAS recommends for Hopper.
  static constexpr size_t kBytes = size_t(32) << 20;
  static void* ws = [] {
    void* p = nullptr;
    NEFT_CUDA_CHECK(cudaMalloc(&p, kBytes));
    return p;
  }();
  *bytes = kBytes;
  return ws;
}

int sm_count() {
  static int n = [] {
    int dev = 0, count = 0;
    NEFT_CUDA_CHECK(cudaGetDevice(&dev));
    NEFT_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, dev));
    return count;
  }();
  return n;
}

void copy(void* dst, bool dst_dev, const void* src, bool src_dev, size_t bytes) {
  const cudaMemcpyKind kind = dst_dev
                                  ? (src_dev ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                  : cudaMemcpyDeviceToHost;
  NEFT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream()));
  if (!dst_dev || !src_dev) NEFT_CUDA_CHECK(cudaStreamSynchronize(stream()));  // host side sees it
}

void memset_zero(void* ptr, size_t bytes) {
  if (bytes) NEFT_CUDA_CHECK(cudaMemsetAsync(ptr, 0, bytes, stream()));
}

}  // namespace cuda_detail
}  // namespace neft
