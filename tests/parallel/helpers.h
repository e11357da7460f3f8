// Shared by the multi-rank tests: the world's size and rank, and values that depend on the
// rank and the position, small integers so that sums are exact in every dtype (bf16 too).
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/llama.h"
#include "parallel/environment.h"
#include "parallel/process_groups.h"
#include "runtime/error.h"
#include "tests/unit/error_of.h"

namespace neft::parallel::testing {

inline int world_rank() { return process_environment().rank; }
inline int world_size() { return process_environment().world_size; }

inline float rank_value(int rank, int64_t i) { return float(rank * 10 + int(i % 7) - 3); }

inline std::vector<float> rank_values(int rank, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = rank_value(rank, i);
  return v;
}

// A tp x pp layout the model tests run at, on every world size it divides (the ranks left
// over are data-parallel replicas), named "tp2_pp1" in test names.
struct ModelLayout {
  int tp, pp;
};
inline auto model_layouts() {
  return ::testing::Values(ModelLayout{1, 1}, ModelLayout{2, 1}, ModelLayout{1, 2},
                           ModelLayout{2, 2});
}
inline std::string layout_name(const ::testing::TestParamInfo<ModelLayout>& info) {
  return "tp" + std::to_string(info.param.tp) + "_pp" + std::to_string(info.param.pp);
}
inline bool layout_fits(const ModelLayout& l) { return world_size() % (l.tp * l.pp) == 0; }

// This data-parallel replica's share of the global micro-batches: g.coords.dp, + dp, ...
template <class T>
std::vector<T> replica_share(const std::vector<T>& all, const ProcessGroups& g) {
  std::vector<T> mine;
  for (size_t m = size_t(g.coords.dp); m < all.size(); m += size_t(g.layout.dp))
    mine.push_back(all[m]);
  return mine;
}

// This rank's shard of a model at the groups' layout: its tp rank and pipeline stage.
inline model::ModelOptions shard_options(const ProcessGroups& g) {
  model::ModelOptions o;
  o.tp = {g.tp.get(), g.tp->rank(), g.tp->size()};
  o.pp_stage = g.coords.pp;
  o.pp_stages = g.layout.pp;
  return o;
}

using ::neft::testing::error_of;

}  // namespace neft::parallel::testing
