#include "benchmarks/device_peak.h"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "benchmarks/bench_util.h"
#include "runtime/error.h"

#ifdef NEFT_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace neft::bench {

namespace {

std::string read_text(const char* path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Best of a few multi-threaded memcpy passes over buffers well beyond the caches, counting
// the bytes read and written.
double memcpy_bandwidth(size_t bytes) {
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  double best = 0;
  for (int pass = 0; pass < 8; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
    {
      const size_t nt = size_t(omp_get_num_threads()), id = size_t(omp_get_thread_num());
      const size_t chunk = (bytes + nt - 1) / nt, begin = std::min(bytes, id * chunk);
      const size_t end = std::min(bytes, begin + chunk);
      std::memcpy(dst.data() + begin, src.data() + begin, end - begin);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * double(bytes) / s);
  }
  return best;
}

}  // namespace

Peak cpu_peak(size_t memcpy_bytes) {
  cpu_set_t set;
  CPU_ZERO(&set);
  const int cores = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;

  // Max clock: cpufreq when the kernel exposes it, else the highest "cpu MHz" listed.
  double ghz = 0;
  std::string clock_src = "cpuinfo_max_freq";
  const std::string khz = read_text("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
  if (!khz.empty()) ghz = std::atof(khz.c_str()) / 1e6;
  const std::string info = read_text("/proc/cpuinfo");
  if (ghz <= 0) {
    clock_src = "/proc/cpuinfo cpu MHz";
    for (size_t p = info.find("cpu MHz"); p != std::string::npos; p = info.find("cpu MHz", p + 1))
      ghz = std::max(ghz, std::atof(info.c_str() + info.find(':', p) + 1) / 1e3);
  }
  const size_t fp = info.find("flags");
  const std::string flags =
      fp == std::string::npos ? "" : info.substr(fp, info.find('\n', fp) - fp) + " ";
  auto has = [&](const char* f) {
    return flags.find(std::string(" ") + f + " ") != std::string::npos;
  };
  // fp32 FLOPs per core per cycle: two FMA pipes of 16 (AVX-512) or 8 (AVX2) lanes.
  int per_cycle = 8;
  std::string isa = "sse";
  if (has("avx512f"))
    per_cycle = 64, isa = "avx512f";
  else if (has("avx2") && has("fma"))
    per_cycle = 32, isa = "avx2+fma";
  else if (has("avx"))
    per_cycle = 16, isa = "avx";

  Peak p;
  p.flops = cores * ghz * 1e9 * per_cycle;
  p.cpus = cores;
  p.flops_note =
      fmt("%.0f GFLOP/s fp32 (estimate: %d logical CPUs x %.2f GHz from %s x %d "
          "FLOP/cycle for %s)",
          p.flops / 1e9, cores, ghz, clock_src.c_str(), per_cycle, isa.c_str());
  if (memcpy_bytes > 0) {
    p.bytes_per_s = memcpy_bandwidth(memcpy_bytes);
    p.bytes_note = fmt("%.1f GB/s (measured: best memcpy of %zu MiB on %d threads, read + write)",
                       p.bytes_per_s / 1e9, memcpy_bytes >> 20, omp_get_max_threads());
  }
  return p;
}

#ifdef NEFT_WITH_CUDA
#define BENCH_CUDA_CHECK(expr)                                                        \
  do {                                                                                \
    cudaError_t e_ = (expr);                                                          \
    if (e_ != cudaSuccess) fail("CUDA error ", cudaGetErrorString(e_), " in " #expr); \
  } while (0)

Peak cuda_peak() {
  int dev = 0, sms = 0, clock_khz = 0, mem_khz = 0, bus_bits = 0;
  BENCH_CUDA_CHECK(cudaGetDevice(&dev));
  BENCH_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  BENCH_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, dev));
  BENCH_CUDA_CHECK(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, dev));
  BENCH_CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev));
  cudaDeviceProp prop{};
  BENCH_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  Peak p;
  // Hopper tensor cores: 4096 dense bf16 FLOPs per SM per clock (1024 FMAs).
  p.flops = double(sms) * clock_khz * 1e3 * 4096;
  // Double data rate: two transfers per memory clock.
  p.bytes_per_s = 2.0 * mem_khz * 1e3 * bus_bits / 8;
  p.flops_note =
      fmt("%.0f TFLOP/s bf16 dense (estimate: %s, %d SMs x %.2f GHz x 4096 "
          "FLOP/clock, the Hopper tensor-core rate)",
          p.flops / 1e12, prop.name, sms, clock_khz / 1e6);
  p.bytes_note = fmt("%.0f GB/s DRAM (from device attributes: %d-bit bus x %.2f GHz x 2)",
                     p.bytes_per_s / 1e9, bus_bits, mem_khz / 1e6);
  return p;
}
#endif

}  // namespace neft::bench
