// The device's peak, the denominator of every "% of peak" / MFU figure the benchmarks
// print: FLOP/s estimated from the clock and the ISA (CPU) or the SM count and clock
// (CUDA), and memory bandwidth measured with memcpy (CPU) or taken from the DRAM spec (CUDA).
#pragma once
#include <cstddef>
#include <string>

namespace neft::bench {

struct Peak {
  double flops = 0;        // FLOP/s in the benchmark's main dtype (f32 CPU, bf16 CUDA)
  double bytes_per_s = 0;  // memory bandwidth; 0 when not measured
  int cpus = 0;            // CPU: the logical CPUs the estimate counts (this process's affinity)
  std::string flops_note, bytes_note;
};

// The CPU's fp32 peak; also its memcpy bandwidth over buffers of memcpy_bytes when that is
// non-zero (the measurement takes about a second and 2 x memcpy_bytes of memory).
Peak cpu_peak(size_t memcpy_bytes);

#ifdef NEFT_WITH_CUDA
// The current GPU's dense bf16 tensor-core peak and DRAM bandwidth.
Peak cuda_peak();
#endif

}  // namespace neft::bench
