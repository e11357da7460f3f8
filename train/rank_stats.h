// What each rank of a training job holds and sends: the parameters it trains, its training
// state (master copies, moments, gradients), the bytes a step sends over its data-, tensor-
// and pipeline-parallel groups, and the memory it measured. Neuron-level training is meant to
// shrink the first three in proportion to the selection each rank owns; this is where a run shows
// it, and what `neft plan` (train/memory_plan.h) is checked against.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/llama.h"
#include "optim/adamw.h"
#include "train/parallel_job.h"

namespace neft::train {

struct RankStats {
  int64_t rank = 0, tp = 0, pp = 0, dp = 0;  // world rank and coordinates
  int64_t trained_parameters = 0;
  int64_t state_bytes = 0;
  int64_t dp_bytes_per_step = 0, tp_bytes_per_step = 0;
  // Of the trained parameters, those in weights every TP rank holds whole (the norms).
  int64_t replicated_parameters = 0;
  // Memory (measure_memory): the allocator's high-water mark on the model's device since the
  // process started or the peak was last reset (the trainer resets it as the first step
  // begins, so this is the step's peak: runtime/device.h), and the process's peak
  // resident set (ru_maxrss: host memory, whatever the device); then what the rank holds by
  // category, read off the model and the optimizer: weights, gradients, the optimizer's own
  // state (moments, and master copies where kept) and the model's activation buffers (with
  // the backward pass's scratch). The peak less those four is what passes (workspace,
  // communication buffers, inputs).
  int64_t peak_allocated_bytes = 0, peak_rss_bytes = 0;
  int64_t weight_bytes = 0, gradient_bytes = 0, optimizer_bytes = 0, activation_bytes = 0;
  int64_t pp_bytes_per_step = 0;  // over the pipeline group: stage outputs and gradients
};

// Fills the memory fields of `s` on this rank, after a step.
void measure_memory(RankStats& s, model::LlamaModel& model, const optim::AdamW& optimizer);

// Every rank's stats on every rank, in world-rank order (a collective over the world).
std::vector<RankStats> gather_rank_stats(const ParallelJob& job, const RankStats& mine);

nlohmann::json to_json(const std::vector<RankStats>& stats);
// "rank 1 (tp 1, pp 0, dp 0): trains 12345 parameters, 197.0 KiB of training state; sends
// 96.0 KiB (dp) + 1.1 MiB (tp) per step; peak 41.2 MiB allocated, 60.3 MiB resident"
std::string describe(const RankStats& s);

}  // namespace neft::train
