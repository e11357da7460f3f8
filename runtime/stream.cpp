#include "runtime/stream.h"

#include "runtime/error.h"
#ifdef NEFT_WITH_CUDA
#include "runtime/cuda/context.h"
#endif

namespace neft {

#ifdef NEFT_WITH_CUDA
namespace cuda_detail {
void set_stream(cudaStream_t s);
}
#define NEFT_ON_CUDA(d, ...) \
  if ((d) == Device::CUDA) { \
    __VA_ARGS__;             \
  }
#else
#define NEFT_ON_CUDA(d, ...) \
  if ((d) == Device::CUDA) fail_no_cuda(__func__);
#endif

Stream Stream::create(Device d) {
  Stream s{d, nullptr};
  NEFT_ON_CUDA(d, cudaStream_t h;
               NEFT_CUDA_CHECK(cudaStreamCreateWithFlags(&h, cudaStreamNonBlocking)); s.handle = h);
  return s;
}

void Stream::destroy() {
  NEFT_ON_CUDA(device, if (handle) NEFT_CUDA_CHECK(cudaStreamDestroy(cudaStream_t(handle))));
  handle = nullptr;
}

void Stream::synchronize() const {
  NEFT_ON_CUDA(device, NEFT_CUDA_CHECK(cudaStreamSynchronize(cudaStream_t(handle))));
}

Stream current_stream(Device d) {
  Stream s{d, nullptr};
  NEFT_ON_CUDA(d, s.handle = cuda_detail::stream());
  return s;
}

void set_current_stream(const Stream& s) {
  NEFT_ON_CUDA(s.device, cuda_detail::set_stream(cudaStream_t(s.handle)));
}

Event Event::create(Device d) {
  Event e{d, nullptr};
  NEFT_ON_CUDA(d, cudaEvent_t h; NEFT_CUDA_CHECK(cudaEventCreate(&h)); e.handle = h);
  return e;
}

void Event::destroy() {
  NEFT_ON_CUDA(device, if (handle) NEFT_CUDA_CHECK(cudaEventDestroy(cudaEvent_t(handle))));
  handle = nullptr;
}

void Event::record([[maybe_unused]] const Stream& s) {
  NEFT_ON_CUDA(device,
               NEFT_CUDA_CHECK(cudaEventRecord(cudaEvent_t(handle), cudaStream_t(s.handle))));
}

void Event::synchronize() const {
  NEFT_ON_CUDA(device, NEFT_CUDA_CHECK(cudaEventSynchronize(cudaEvent_t(handle))));
}

void Event::block([[maybe_unused]] const Stream& s) const {
  NEFT_ON_CUDA(
      device, NEFT_CUDA_CHECK(cudaStreamWaitEvent(cudaStream_t(s.handle), cudaEvent_t(handle), 0)));
}

float Event::elapsed_ms([[maybe_unused]] const Event& since) const {
  float ms = 0;
  NEFT_ON_CUDA(device, NEFT_CUDA_CHECK(cudaEventElapsedTime(&ms, cudaEvent_t(since.handle),
                                                            cudaEvent_t(handle))));
  return ms;
}

}  // namespace neft
