// The one test harness for every op (in the manner of ggml's test-backend-ops): an op
// registers cases, each a set of inputs of some odd shape, our forward and backward, and a
// naive reference written in double. For every case the harness checks
//   1. CPU forward against the reference,
//   2. CPU backward against finite differences of the reference (a random direction and a
//      few single coordinates of L = sum(g · outputs)),
//   3. CUDA forward and backward against CPU in f32 and bf16 (skipped, saying why, without
//      a GPU).
#pragma once
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace neft::testing {

using Values = std::vector<double>;
using Tensors = std::vector<Tensor>;

struct Input {
  std::string name;
  Tensor value;                // on the CPU: f32 for data, i32 for indices
  bool differentiable = true;  // has a gradient from backward and a finite-difference check
};

struct Tolerances {
  double forward = 1e-5;      // CPU vs reference: max |diff| / max |reference|
  double finite_diff = 1e-3;  // backward vs finite differences, relative to the typical size
  double cuda_f32 = 1e-4;     // CUDA vs CPU in f32
  double cuda_bf16 = 4e-2;    // CUDA vs CPU in bf16 (inputs rounded to bf16 first)
};

struct OpCase {
  std::string op;     // e.g. "rmsnorm"
  std::string shape;  // e.g. "7x173": the case's name in test output
  std::vector<Input> inputs;
  // Our op. `in` are the inputs on the device under test, float ones in the dtype under test.
  std::function<Tensors(const Tensors& in)> forward;
  // Our backward: the gradient of every differentiable input (in input order) given the
  // gradient of every output. Unset for ops that are not differentiated (optimizer steps).
  std::function<Tensors(const Tensors& in, const Tensors& grad_out)> backward;
  // The naive reference, in double, on the inputs' values; returns every output's values.
  std::function<std::vector<Values>(const std::vector<Values>& in)> reference;
  // Outputs that take part in L = sum(g · out) for the gradient checks (default: all).
  std::vector<bool> output_differentiable;
  // Float inputs are moved to bf16 on the CUDA bf16 run, except these (e.g. f32 master weights).
  std::vector<bool> keep_f32;
  Tolerances tol;
  bool cuda_bf16 = true;  // run the bf16 CUDA comparison
};

// gtest prints a case by its name rather than as a hex dump.
inline void PrintTo(const OpCase& c, std::ostream* os) { *os << c.op << "/" << c.shape; }

// Registration: each ops/<op>_cases.cpp defines `static CaseRegistrar r("op", make_cases);`.
using CaseFactory = std::function<std::vector<OpCase>()>;
struct CaseRegistrar {
  CaseRegistrar(const char* op, CaseFactory factory);
};
const std::vector<OpCase>& all_cases();
std::vector<std::string> registered_ops();

// Helpers for writing cases.
Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f);
Tensor random_ints(const Shape& shape, uint64_t seed, int32_t lo, int32_t hi);  // [lo, hi)
// An empty tensor on the device of `like`, with its dtype (or `dtype` when given).
Tensor empty_like(const Tensor& like, const Shape& shape);
Tensor empty_as(const Tensor& like, const Shape& shape, DType dtype);
std::string shape_name(const Shape& s);  // {7, 173} -> "7x173", for case names
inline int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

}  // namespace neft::testing
