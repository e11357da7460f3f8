// What each rank of a training job holds and sends: the parameters it trains, its training
// state (master copies, moments, gradients) and the bytes a step sends over its data- and
// tensor-parallel groups. Neuron-level training is meant to shrink all three in proportion
// to the selection each rank owns; this is where a run shows it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/parallel_job.h"

namespace neft::train {

struct RankStats {
  int64_t rank = 0, tp = 0, pp = 0, dp = 0;  // world rank and coordinates
  int64_t trained_parameters = 0;
  int64_t state_bytes = 0;
  int64_t dp_bytes_per_step = 0, tp_bytes_per_step = 0;
  // Of the trained parameters, those in weights every TP rank holds whole (the norms).
  int64_t replicated_parameters = 0;
};

// Every rank's stats on every rank, in world-rank order (a collective over the world).
std::vector<RankStats> gather_rank_stats(const ParallelJob& job, const RankStats& mine);

nlohmann::json to_json(const std::vector<RankStats>& stats);
// "rank 1 (tp 1, pp 0, dp 0): trains 12.3k parameters, 197 KiB of training state, sends
// 96 KiB (dp) + 1.1 MiB (tp) per step"
std::string describe(const RankStats& s);

}  // namespace neft::train
