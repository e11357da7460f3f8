// Devices and raw memory. A process drives the host and at most one GPU (one device per
// local rank, chosen by the launcher), so a Device is just where bytes live.
#pragma once
#include <cstddef>
#include <cstdint>

namespace neft {

enum class Device : uint8_t { CPU, CUDA };

const char* device_name(Device d);

// True when this build has the CUDA backend and a GPU is visible.
bool cuda_available();
// True when this build was compiled with the CUDA backend (whether or not a GPU exists).
bool cuda_compiled();
// Why cuda_available() is false, for skip messages and errors.
const char* cuda_unavailable_reason();

// Raw allocation on a device. CPU memory is 64-byte aligned; CUDA memory comes from the
// caching allocator (runtime/cuda/caching_allocator.cpp).
void* device_alloc(Device d, size_t bytes);
void device_free(Device d, void* ptr, size_t bytes);
// Copy between any two devices; ordered after work already queued on the current stream.
void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
void device_memset_zero(Device d, void* ptr, size_t bytes);
// Wait until queued device work is done (no-op on CPU).
void device_synchronize(Device d);

struct MemoryStats {
  size_t allocated = 0;  // bytes handed out and not yet freed
  size_t peak = 0;       // high-water mark of `allocated`
  size_t reserved = 0;   // bytes held from the driver (allocated + cached), CUDA only
};
MemoryStats memory_stats(Device d);
void reset_peak_memory(Device d);

}  // namespace neft

// The op a build without CUDA cannot run: a clear error rather than a link failure.
namespace neft {
[[noreturn]] void fail_no_cuda(const char* what);
}
