// The harness must know every runtime op: a new op without cases fails here.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

bool has_op(const std::string& op) {
  const std::vector<std::string> ops = registered_ops();
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

// Ops with a backward: every case of theirs must check it against finite differences.
const std::vector<std::string> kDifferentiable = {
    "add",         "scale",        "axpy",        "gemm",          "rmsnorm",     "rope",
    "attention",   "swiglu",       "embedding",   "cross_entropy", "gather_rows", "scatter_rows",
    "gather_cols", "scatter_cols", "sum_squares", "dropout"};
// Ops checked forward only (fills, conversions, optimizer steps, score accumulators).
const std::vector<std::string> kForwardOnly = {
    "fill",       "fill_uniform",           "fill_normal",    "cast", "adamw",
    "adamw_rows", "attribution_accumulate", "document_starts"};

TEST(OpHarness, CoversEveryOp) {
  for (const auto* list : {&kDifferentiable, &kForwardOnly})
    for (const std::string& op : *list) EXPECT_TRUE(has_op(op)) << "no harness cases for op " << op;
}

TEST(OpHarness, DifferentiableOpsCheckTheirBackward) {
  for (const OpCase& c : all_cases()) {
    const bool diff =
        std::find(kDifferentiable.begin(), kDifferentiable.end(), c.op) != kDifferentiable.end();
    if (diff) {
      EXPECT_TRUE(bool(c.backward)) << c.op << "/" << c.shape << " has no backward";
    }
  }
}

}  // namespace
}  // namespace neft::testing
