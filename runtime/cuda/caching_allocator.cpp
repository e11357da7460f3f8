// Caching device allocator. cudaMalloc/cudaFree synchronise the device and cost tens of
// microseconds, so freed blocks are kept in size classes and handed out again. All work
// runs on one compute stream per process, so a block freed by the host can be reused by
// the next op in stream order without an event. On an out-of-memory the cache is returned
// to the driver and the allocation retried once.
#include <map>
#include <mutex>
#include <vector>

#include "runtime/cuda/context.h"
#include "runtime/device.h"

namespace neft::cuda_detail {

namespace {

// Small requests round to 512 B, large ones to 2 MiB, which keeps size classes few.
size_t size_class(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20, kSmallLimit = size_t(1) << 20;
  const size_t q = bytes <= kSmallLimit ? kSmall : kLarge;
  return (bytes + q - 1) / q * q;
}

struct Cache {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_blocks;
  MemoryStats stats;

  void release_cached() {
    for (auto& [size, blocks] : free_blocks) {
      for (void* p : blocks) {
        cudaFree(p);
        stats.reserved -= size;
      }
    }
    free_blocks.clear();
  }
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: frees after the CUDA context ends are unsafe
  return *c;
}

}  // namespace

void* alloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  Cache& c = cache();
  const size_t size = size_class(bytes);
  std::lock_guard<std::mutex> lock(c.mu);
  void* p = nullptr;
  auto it = c.free_blocks.find(size);
  if (it != c.free_blocks.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
  } else {
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      c.release_cached();
      e = cudaMalloc(&p, size);
    }
    if (e != cudaSuccess) {
      // Not always an out-of-memory: an earlier kernel's fault (a sticky error) surfaces
      // here too, and must not be reported as one.
      cudaGetLastError();
      fail("CUDA ", e == cudaErrorMemoryAllocation ? "out of memory" : cudaGetErrorString(e),
           " allocating ", size, " bytes (", c.stats.allocated, " bytes in use, peak ",
           c.stats.peak, ")");
    }
    c.stats.reserved += size;
  }
  c.stats.allocated += size;
  c.stats.peak = std::max(c.stats.peak, c.stats.allocated);
  return p;
}

void free(void* ptr, size_t bytes) {
  if (!ptr) return;
  Cache& c = cache();
  const size_t size = size_class(bytes);
  std::lock_guard<std::mutex> lock(c.mu);
  c.free_blocks[size].push_back(ptr);
  c.stats.allocated -= size;
}

MemoryStats stats() {
  std::lock_guard<std::mutex> lock(cache().mu);
  return cache().stats;
}

void reset_peak() {
  std::lock_guard<std::mutex> lock(cache().mu);
  cache().stats.peak = cache().stats.allocated;
}

}  // namespace neft::cuda_detail
