// CPU loop helpers over [0, n): OpenMP loops that stay serial for small n, where waking
// the thread team costs more than the work.
#pragma once
#include <cstdint>

#include <omp.h>

namespace neft::cpu {

constexpr int64_t kParallelGrain = 16384;

template <class F>
void parallel_for(int64_t n, F&& body, int64_t grain = kParallelGrain) {
#pragma omp parallel for schedule(static) if (n >= grain)
  for (int64_t i = 0; i < n; ++i) body(i);
}

// body(begin, end) on one contiguous piece per thread, so that the body's inner loop can
// vectorise. Pieces start on 16-element boundaries (a cache line of floats), so threads do
// not share a line of an aligned output. For element-wise work only: where the pieces fall
// depends on the thread count.
template <class F>
void parallel_range(int64_t n, F&& body, int64_t grain = kParallelGrain) {
  if (n < grain) {
    body(int64_t(0), n);
    return;
  }
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
    auto edge = [&](int64_t t) { return t == nt ? n : n * t / nt / 16 * 16; };
    const int64_t begin = edge(id), end = edge(id + 1);
    if (begin < end) body(begin, end);
  }
}

}  // namespace neft::cpu
