// Small helpers the benchmark programs share: printf into a string, the median that every
// timing table reports (robust to the odd slow call on a shared machine), and --device.
#pragma once
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/device.h"
#include "runtime/error.h"

namespace neft::bench {

inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

template <class... Args>
std::string fmt(const char* format, Args... args) {
  const int n = std::snprintf(nullptr, 0, format, args...);
  std::string s(size_t(std::max(n, 0)), '\0');
  std::snprintf(s.data(), s.size() + 1, format, args...);
  return s;
}

// The value of --device.
inline Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda") return Device::CUDA;
  fail("--device must be cpu or cuda, got '", name, "'");
}

}  // namespace neft::bench
