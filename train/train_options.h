// What a training run is given: the model, the data, the schedule, the layout over the ranks,
// checkpointing and output. `neft train` and `neft finetune` fill it from their options
// (launch/options.h); the engine (train/trainer.h) runs from it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "parallel/communicator.h"
#include "runtime/device.h"
#include "runtime/dtype.h"

namespace neft::train {

// How a command spreads over the ranks of an mpirun / srun job (train/parallel_job.h): tp
// ranks hold the shards of one model replica, pp stages split its layers, and the rest of
// the world, dp = world / (tp * pp), are data-parallel replicas.
struct ParallelOptions {
  int64_t tp = 1;
  int64_t pp = 1;
  std::string comm_backend = "auto";                           // auto | mpi | nccl
  double comm_timeout = parallel::kDefaultCommTimeoutSeconds;  // seconds per collective
  // Megatron-LM's sequence parallelism over the tp ranks (model/tensor_parallel.h); nothing
  // at tp 1.
  bool sequence_parallel = false;

  // "auto" is nccl with --device cuda and mpi on the cpu.
  parallel::Backend backend(const std::string& device) const;
};

struct TrainOptions {
  // model
  std::string model = "tiny";  // preset name or HF model directory
  std::string init;            // HF checkpoint directory to load weights from ("" = none)
  std::string device = "cpu";  // cpu | cuda
  std::string dtype = "auto";  // auto | f32 | bf16
  int64_t num_layers = 0;      // 0 = the model's own; else its first num_layers layers
  // data
  std::string data = "synthetic";
  std::string tasks;  // "" = every task of the suite
  int64_t seq_len = 64;
  std::string packing = "on";  // on: several examples per row, document-masked | off: one
  // training
  int64_t micro_batch = 16;
  int64_t grad_accum = 1;
  int64_t steps = 1000;
  uint64_t seed = 1234;
  bool recompute = false;
  int64_t stop_after = 0;  // 0 = off; else stop after this many steps of this invocation
  // parallelism: micro_batch is per data-parallel rank; a step trains on
  // micro_batch * grad_accum * dp sequences
  ParallelOptions parallelism;
  // ZeRO-1: the optimizer's state split over the data-parallel ranks (optim/state_partition.h)
  bool distributed_optimizer = false;
  // optimizer
  double lr = 3e-3;
  double min_lr = 3e-4;
  int64_t warmup = 50;
  double warmup_ratio = 0.0;  // > 0: warmup = round(warmup_ratio * steps) (launch/recipe.h)
  std::string lr_schedule = "cosine";  // cosine | linear | constant
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double clip = 1.0;            // 0 = off
  std::string recipe = "auto";  // auto | scratch | pretrained: the defaults above (launch/recipe.h)
  std::string recipe_note;      // what the recipe chose, printed when training starts
  // evaluation
  int64_t eval_every = 0;  // 0 = off
  std::string eval_data;   // "" = the synthetic suite's held-out split; else sft:FILE.jsonl
  int64_t eval_examples = 256;
  std::string eval_split = "eval";  // eval (reported) | validation (for choosing settings)
  // checkpointing
  int64_t save_every = 0;  // 0 = only at the end
  int64_t keep_checkpoints = 2;
  bool resume = false;
  // output
  std::string out = "runs/train";
  std::string metrics;  // "" = <out>/metrics.jsonl
  int64_t log_every = 10;
  // neuron-level training
  std::string neurons;  // "" = every weight trains; else a neuron-set file
  // LoRA (lora/lora.h): 0 = none; else adapters of this rank on lora_targets train, alone.
  int64_t lora_rank = 0;
  double lora_alpha = 0;  // 0 = the rank: a scaling of 1, as PEFT's defaults (r 8, alpha 8)
  std::string lora_targets = "q,k,v,o,gate,up,down";
  double lora_dropout = 0;

  Device compute_device() const;
  DType compute_dtype() const;                 // dtype with "auto" resolved for the device
  std::string metrics_path() const;            // metrics, or <out>/metrics.jsonl
  std::vector<std::string> task_list() const;  // tasks split at commas; empty = all
};

// --device as the runtime's Device (the value is one of cpu, cuda once parsed).
Device device_named(const std::string& device);
// "auto" is f32 on the CPU (the reference numerics) and bf16 on CUDA.
DType resolve_dtype(const std::string& dtype, const std::string& device);
// A --tasks list split at commas; empty means every task of the synthetic suite.
std::vector<std::string> tasks_or_all(const std::string& tasks);

}  // namespace neft::train
