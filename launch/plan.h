// `neft plan`: will a training layout fit, and how fast will it run? Per rank, the bytes a
// step holds at its peak by what holds them, and the bytes it sends, as the code allocates and
// sends them (train/memory_plan.h); a modelled step time (train/gpu_model.h). Nothing runs:
// the plan comes from the shapes, on one process.
#pragma once
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace neft::launch {

struct PlanOptions {
  // model
  std::string model;       // preset name or HF model directory (its config.json)
  int64_t num_layers = 0;  // 0 = the model's own
  std::string dtype = "auto";
  // data and training, with `neft train`'s names and defaults
  int64_t seq_len = 64;
  int64_t micro_batch = 16;
  int64_t grad_accum = 1;
  bool recompute = false;
  std::string neurons;  // "" = full fine-tuning; a budget (5%params) or a neuron-set file
  bool gate = false;    // a budget's FFN neurons include gate_proj's row
  int64_t lora_rank = 0;
  std::string lora_targets = "q,k,v,o,gate,up,down";
  // layout and machine
  int64_t tp = 1, pp = 1;
  int64_t dp = 0;             // 0: from --nodes x --gpus-per-node, else 1
  int64_t nodes = 0;          // 0: as many as the ranks need
  int64_t gpus_per_node = 0;  // 0: the GPU model's (8)
  bool distributed_optimizer = false;
  bool sequence_parallel = false;
  std::string gpu = "h100-80gb";
  double efficiency = 0;  // 0: the GPU model's assumption
  // output
  bool json = false;
};

std::optional<PlanOptions> parse_plan_options(const std::vector<std::string>& args,
                                              std::ostream& out);
int run_plan(const PlanOptions& options);

}  // namespace neft::launch
