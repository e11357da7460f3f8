#include "runtime/device.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "runtime/error.h"

namespace neft {

#ifdef NEFT_WITH_CUDA
namespace cuda_detail {  // runtime/cuda/*.cpp
bool available();
const char* unavailable_reason();
void* alloc(size_t bytes);
void free(void* ptr, size_t bytes);
void copy(void* dst, bool dst_dev, const void* src, bool src_dev, size_t bytes);
void memset_zero(void* ptr, size_t bytes);
void synchronize();
MemoryStats stats();
void reset_peak();
}  // namespace cuda_detail
#endif

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

[[noreturn]] void fail_no_cuda(const char* what) {
  fail(what, ": needs the CUDA backend, but this build has NEFT_CUDA=OFF");
}

#ifdef NEFT_WITH_CUDA
bool cuda_compiled() { return true; }
bool cuda_available() { return cuda_detail::available(); }
const char* cuda_unavailable_reason() { return cuda_detail::unavailable_reason(); }
#define NEFT_CUDA_OR_FAIL(call, what) return cuda_detail::call
#else
bool cuda_compiled() { return false; }
bool cuda_available() { return false; }
const char* cuda_unavailable_reason() { return "built with NEFT_CUDA=OFF"; }
#define NEFT_CUDA_OR_FAIL(call, what) fail_no_cuda(what)
#endif

// CPU accounting, so the memory benchmarks can report host peaks too.
static std::atomic<size_t> cpu_allocated{0}, cpu_peak{0};

void* device_alloc(Device d, size_t bytes) {
  if (d == Device::CUDA) NEFT_CUDA_OR_FAIL(alloc(bytes), "device_alloc");
  if (bytes == 0) return nullptr;
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p) fail("out of host memory allocating ", bytes, " bytes");
  size_t now = cpu_allocated += bytes;
  size_t peak = cpu_peak.load();
  while (now > peak && !cpu_peak.compare_exchange_weak(peak, now)) {
  }
  return p;
}

void device_free(Device d, void* ptr, size_t bytes) {
  if (d == Device::CUDA) NEFT_CUDA_OR_FAIL(free(ptr, bytes), "device_free");
  if (!ptr) return;
  cpu_allocated -= bytes;
  std::free(ptr);
}

void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device == Device::CPU && src_device == Device::CPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
  NEFT_CUDA_OR_FAIL(copy(dst, dst_device == Device::CUDA, src, src_device == Device::CUDA, bytes),
                    "device_copy");
}

void device_memset_zero(Device d, void* ptr, size_t bytes) {
  if (d == Device::CUDA) NEFT_CUDA_OR_FAIL(memset_zero(ptr, bytes), "device_memset_zero");
  if (bytes) std::memset(ptr, 0, bytes);
}

void device_synchronize(Device d) {
  if (d == Device::CUDA) NEFT_CUDA_OR_FAIL(synchronize(), "device_synchronize");
}

MemoryStats memory_stats(Device d) {
  if (d == Device::CUDA) NEFT_CUDA_OR_FAIL(stats(), "memory_stats");
  return {cpu_allocated.load(), cpu_peak.load(), cpu_allocated.load()};
}

void reset_peak_memory(Device d) {
  if (d == Device::CUDA) NEFT_CUDA_OR_FAIL(reset_peak(), "reset_peak_memory");
  cpu_peak = cpu_allocated.load();
}

}  // namespace neft
