// The machines `neft plan` plans for, and its model of a step's time on them. A machine is
// named parameters (memory, dense peak, link bandwidths) and the assumptions stated with
// them: the share of memory kept out of the plan (the reserve) and the share of the peak a
// step reaches. The time is a model, not a measurement: FLOPs over the peak times an assumed
// efficiency, plus each group's bytes over its link, none of it overlapped (the trainer runs
// its collectives between the passes, not beside them), with 1F1B's pipeline bubble.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "train/memory_plan.h"

namespace neft::train {

struct GpuModel {
  std::string name;         // "h100-80gb"
  std::string description;  // "NVIDIA H100 SXM 80GB"
  double memory_bytes = 0;  // the total the device reports
  // Kept out of the plan: the CUDA context and kernels, cuBLASLt's 32 MiB workspace, NCCL's
  // buffers per communicator, and the caching allocator's rounding and fragmentation.
  double reserve_fixed_bytes = 0, reserve_fraction = 0;
  double peak_flops_bf16 = 0, peak_flops_f32 = 0;  // dense
  double nvlink_bytes_per_s = 0;                   // per GPU and direction, between GPUs of a node
  double ib_bytes_per_s = 0;                       // per GPU and direction, between nodes
  int gpus_per_node = 8;
  double efficiency = 0.4;       // the share of the peak a step's products reach (MFU)
  double link_efficiency = 0.8;  // the share of a link's bandwidth a collective reaches

  double reserve_bytes() const { return reserve_fixed_bytes + reserve_fraction * memory_bytes; }
  double usable_bytes() const { return memory_bytes - reserve_bytes(); }
  double peak_flops(DType dtype) const {
    return dtype == DType::F32 ? peak_flops_f32 : peak_flops_bf16;
  }
};

// h100-80gb, h200-141gb, a100-80gb, cpu (this machine's memory, a nominal peak). An unknown
// name is a one-line error listing the known ones.
GpuModel gpu_model(const std::string& name);
std::vector<std::string> gpu_model_names();

// Where a group's ranks sit: the layout puts TP innermost, then DP, then PP (rank =
// (pp x dp + d) x tp + t), numbered node by node.
struct Placement {
  int tp = 1, pp = 1, dp = 1, gpus_per_node = 8;
  int nodes() const { return (tp * pp * dp + gpus_per_node - 1) / gpus_per_node; }
  // True when the tp / dp / pp group of rank 0 lies within one node.
  bool tp_in_node() const;
  bool dp_in_node() const;
  bool pp_in_node() const;
};

struct StepTime {
  double compute_s = 0;                 // the slowest stage's products and attention
  double tp_s = 0, pp_s = 0, dp_s = 0;  // its groups' bytes over their links
  double bubble_s = 0;                  // 1F1B's (pp - 1) micro-batch slots of idle time
  double total_s = 0;
  double tokens_per_s_per_gpu = 0;
};

StepTime model_step_time(const PlanSpec& spec, const std::vector<RankPlan>& ranks,
                         const GpuModel& gpu, const Placement& placement);

}  // namespace neft::train
