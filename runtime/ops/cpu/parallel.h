// CPU loop helper: an OpenMP loop over [0, n) that stays serial for small n, where
// waking the thread team costs more than the work.
#pragma once
#include <cstdint>

namespace neft::cpu {

constexpr int64_t kParallelGrain = 16384;

template <class F>
void parallel_for(int64_t n, F&& body, int64_t grain = kParallelGrain) {
#pragma omp parallel for schedule(static) if (n >= grain)
  for (int64_t i = 0; i < n; ++i) body(i);
}

}  // namespace neft::cpu
