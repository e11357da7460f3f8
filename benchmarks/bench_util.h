// Small helpers the benchmark programs share: printf into a string, the median that every
// timing table reports (robust to the odd slow call on a shared machine), --device and
// integer options, rounding for JSON lines, MiB, and printing on one rank only.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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

// The value of an integer option, at least `min`.
inline int64_t parse_count(const std::string& flag, const std::string& v, int64_t min) {
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < min || n > 1000000000)
    fail(flag, " must be an integer >= ", min, ", got '", v, "'");
  return n;
}

// Rounded for a JSON line, as benchmarks/pytorch_train_step.py rounds its own.
inline double round_to(double x, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(x * scale) / scale;
}

inline std::string mib(size_t bytes) { return fmt("%.1f MiB", double(bytes) / (1 << 20)); }

// fprintf that prints nothing to a null stream: ranks other than 0 stay quiet.
[[gnu::format(printf, 2, 3)]] inline void say(FILE* f, const char* format, ...) {
  if (!f) return;
  va_list args;
  va_start(args, format);
  std::vfprintf(f, format, args);
  va_end(args);
}

}  // namespace neft::bench
