#include "train/gpu_model.h"

#include <unistd.h>

#include <algorithm>

#include "runtime/error.h"
#include "runtime/text.h"

namespace neft::train {

namespace {

constexpr double kGiB = double(1 << 30), kMiB = double(1 << 20);

// Totals as nvidia-smi reports them; peaks from the vendors' data sheets (dense, without
// sparsity); NVLink per direction (half the quoted bidirectional figure); one InfiniBand NIC
// per GPU (NDR 400 Gb/s beside Hopper, HDR 200 Gb/s beside Ampere).
std::vector<GpuModel> gpu_table() {
  GpuModel h100{"h100-80gb", "NVIDIA H100 SXM 80GB"};
  h100.memory_bytes = 81559 * kMiB;
  h100.peak_flops_bf16 = 989e12;
  h100.peak_flops_f32 = 67e12;
  h100.nvlink_bytes_per_s = 450e9;
  h100.ib_bytes_per_s = 50e9;
  GpuModel h200 = h100;
  h200.name = "h200-141gb";
  h200.description = "NVIDIA H200 SXM 141GB";
  h200.memory_bytes = 143771 * kMiB;
  GpuModel a100{"a100-80gb", "NVIDIA A100 SXM 80GB"};
  a100.memory_bytes = 81920 * kMiB;
  a100.peak_flops_bf16 = 312e12;
  a100.peak_flops_f32 = 19.5e12;
  a100.nvlink_bytes_per_s = 300e9;
  a100.ib_bytes_per_s = 25e9;
  for (GpuModel* g : {&h100, &h200, &a100}) {
    g->reserve_fixed_bytes = 2 * kGiB;
    g->reserve_fraction = 0.05;
  }
  // The host as `neft train --device cpu` uses it: its memory, less room for the process
  // itself (the binary, MPI, OpenBLAS's buffers); a nominal f32 peak (neft_op_bench measures
  // a machine's); ranks on one machine talk through shared memory.
  GpuModel cpu{"cpu", "this machine's CPUs"};
  cpu.memory_bytes = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
  cpu.reserve_fixed_bytes = 1 * kGiB;
  cpu.peak_flops_bf16 = cpu.peak_flops_f32 = 100e9;
  cpu.nvlink_bytes_per_s = cpu.ib_bytes_per_s = 10e9;
  cpu.gpus_per_node = 1 << 20;
  cpu.efficiency = 0.5;
  return {h100, h200, a100, cpu};
}

}  // namespace

std::vector<std::string> gpu_model_names() {
  std::vector<std::string> names;
  for (const GpuModel& g : gpu_table()) names.push_back(g.name);
  return names;
}

GpuModel gpu_model(const std::string& name) {
  for (const GpuModel& g : gpu_table())
    if (g.name == name) return g;
  fail("unknown GPU '", name, "' (known: ", join(gpu_model_names(), ", "), ")");
}

namespace {
bool in_one_node(int first_rank, int last_rank, int gpus_per_node) {
  return first_rank / gpus_per_node == last_rank / gpus_per_node;
}
}  // namespace

bool Placement::tp_in_node() const { return in_one_node(0, tp - 1, gpus_per_node); }
bool Placement::dp_in_node() const { return in_one_node(0, (dp - 1) * tp, gpus_per_node); }
bool Placement::pp_in_node() const { return in_one_node(0, (pp - 1) * dp * tp, gpus_per_node); }

StepTime model_step_time(const PlanSpec& spec, const std::vector<RankPlan>& ranks,
                         const GpuModel& gpu, const Placement& placement) {
  const double peak = gpu.peak_flops(spec.dtype) * gpu.efficiency;
  auto link = [&](bool in_node) {
    return (in_node ? gpu.nvlink_bytes_per_s : gpu.ib_bytes_per_s) * gpu.link_efficiency;
  };
  const double tp_link = link(placement.tp_in_node()), dp_link = link(placement.dp_in_node()),
               pp_link = link(placement.pp_in_node());
  StepTime t;
  double slowest = 0;
  for (const RankPlan& r : ranks) {
    const double compute = r.flops_per_step / peak;
    const double tp = double(r.tp_bytes_per_step) / tp_link;
    const double pp = double(r.pp_bytes_per_step) / pp_link;
    if (compute + tp + pp > slowest) {
      slowest = compute + tp + pp;
      t.compute_s = compute;
      t.tp_s = tp;
      t.pp_s = pp;
    }
    t.dp_s = std::max(t.dp_s, double(r.dp_bytes_per_step) / dp_link);
  }
  // 1F1B keeps every stage busy but for (pp - 1) micro-batch slots at the start and the end.
  t.bubble_s = double(spec.pp - 1) * slowest / double(spec.grad_accum);
  t.total_s = slowest + t.bubble_s + t.dp_s;
  const double tokens = double(spec.micro_batch * spec.seq_len * spec.grad_accum);
  t.tokens_per_s_per_gpu = t.total_s > 0 ? tokens / t.total_s / double(spec.tp * spec.pp) : 0;
  return t;
}

}  // namespace neft::train
