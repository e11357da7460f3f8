// Streams and events. Ops queue their work on the current stream; on the CPU everything is
// synchronous and these are no-ops, so code above the runtime is written once.
#pragma once
#include "runtime/device.h"

namespace neft {

struct Stream {
  Device device = Device::CPU;
  void* handle = nullptr;  // cudaStream_t; nullptr is the default stream

  static Stream create(Device d);  // a new non-blocking CUDA stream (CPU: a no-op stream)
  void destroy();
  void synchronize() const;
};

// The stream every op on this thread queues onto (CUDA), and how to change it.
Stream current_stream(Device d);
void set_current_stream(const Stream& s);

struct Event {
  Device device = Device::CPU;
  void* handle = nullptr;  // cudaEvent_t

  static Event create(Device d);
  void destroy();
  void record(const Stream& s);
  void synchronize() const;
  void block(const Stream& s) const;           // work queued later on `s` waits for this event
  float elapsed_ms(const Event& since) const;  // between two recorded CUDA events
};

}  // namespace neft
