#include "launch/options.h"

#include "data/synthetic.h"

#include <filesystem>

#include "launch/recipe.h"
#include "lora/lora.h"
#include "model/config.h"
#include "runtime/error.h"

namespace neft::launch {

namespace {

using G = OptionGroup;

const std::vector<std::string> kDevices = {"cpu", "cuda"};
const std::vector<std::string> kDtypes = {"auto", "f32", "bf16"};

std::string preset_list() {
  std::string list;
  for (const std::string& name : model::preset_names()) list += (list.empty() ? "" : ", ") + name;
  return list;
}

}  // namespace

void add_model_options(CommandOptions& table, std::string* init, std::string* device,
                       std::string* dtype) {
  table
      .add(G::model, "init", init,
           "Hugging Face checkpoint directory to load the weights from; empty: random "
           "initialisation from --seed, unless --model is a directory that holds weights")
      .value_name("DIR");
  table.add(G::model, "device", device, "where to run").one_of(kDevices);
  table
      .add(G::model, "dtype", dtype,
           "weight and activation type; auto is f32 on cpu (the reference numerics) and bf16 "
           "on cuda")
      .one_of(kDtypes);
}

void check_device_and_dtype(const CommandOptions& table, const std::string& device,
                            const std::string& dtype) {
  if (device == "cuda" && !cuda_compiled())
    table.option("device").reject("this neft was built without the CUDA backend");
  if (device == "cpu" && dtype == "bf16")
    table.option("dtype").reject("the cpu backend runs f32 (bf16 needs --device cuda)");
}

void add_packing_option(CommandOptions& table, std::string* packing) {
  table
      .add(G::data, "packing", packing,
           "on: as many whole examples per row as fit, each attending only to itself "
           "(document-masked attention, as if it had the row alone); off: one example per row, "
           "padded. tokens: data always fills whole rows, masked at document boundaries")
      .one_of({"on", "off"});
}

void add_parallel_options(CommandOptions& table, ParallelOptions* p, bool pipeline) {
  table
      .add(G::parallelism, "tp", &p->tp,
           "tensor-parallel ranks per model replica: attention heads, FFN units and the "
           "vocabulary are split over them (must divide each); launch tp x pp x dp ranks with "
           "mpirun or srun")
      .at_least(1);
  if (pipeline)
    table
        .add(G::parallelism, "pp", &p->pp,
             "pipeline stages per model replica (the layers split over them); the ranks left "
             "over, world / (tp x pp), are data-parallel replicas. With pp > 1 `neft train` "
             "does not evaluate: evaluate the saved model with `neft eval --model OUT/model`")
        .at_least(1);
  table
      .add(G::parallelism, "comm-backend", &p->comm_backend,
           "collectives between ranks; auto: nccl with --device cuda, mpi on the cpu")
      .one_of({"auto", "mpi", "nccl"});
  table
      .add(G::parallelism, "comm-timeout", &p->comm_timeout,
           "seconds a collective may take before it ends the job (a rank that died or "
           "diverged); NEFT_COMM_TIMEOUT, when set, replaces the default")
      .above(0);
}

void check_parallel(const CommandOptions& table, ParallelOptions& p, const std::string& device) {
  if (!table.option("comm-timeout").source().given)
    p.comm_timeout = parallel::default_comm_timeout_s();
  if (p.comm_backend == "nccl" && device != "cuda")
    table.option("comm-backend").reject("nccl carries device tensors: it needs --device cuda");
}

void check_tasks(const CommandOptions& table, const std::string& tasks) {
  for (const std::string& task : split_list(tasks))
    if (task.empty()) table.option("tasks").reject("empty task name in the comma-separated list");
}

void check_train(const CommandOptions& table, TrainOptions& o, bool neuron_level) {
  check_device_and_dtype(table, o.device, o.dtype);
  apply_recipe(table, o, neuron_level || !o.neurons.empty() || o.lora_rank > 0);
  check_parallel(table, o.parallelism, o.device);
  check_tasks(table, o.tasks);
  if (o.min_lr > o.lr)
    table.option("min-lr").reject("must not exceed --lr (" + table.option("lr").value_text() + ")");
  const int64_t tp = o.parallelism.tp;
  if (o.parallelism.sequence_parallel && (o.micro_batch * o.seq_len) % tp != 0)
    table.option("micro-batch")
        .reject("with --sequence-parallel, micro-batch x seq-len (" +
                std::to_string(o.micro_batch) + " x " + std::to_string(o.seq_len) +
                " tokens) must divide by --tp " + std::to_string(tp) +
                ": each tp rank holds an equal share of them");
  if (!o.eval_data.empty() && (o.eval_data.rfind("sft:", 0) != 0 || o.eval_data.size() == 4))
    table.option("eval-data").reject("must be sft:FILE.jsonl");
  if (o.eval_every > 0 && o.eval_data.empty() && o.data.rfind("synthetic", 0) != 0)
    table.option("eval-every")
        .reject("evaluates the synthetic tasks; with --data " + o.data +
                " give held-out data with --eval-data sft:FILE.jsonl");
}

void add_lora_options(CommandOptions& t, TrainOptions& o) {
  t.add(G::training, "lora-rank", &o.lora_rank,
        "train LoRA adapters of this rank instead of the weights (every weight stays as "
        "loaded); the run's checkpoints and model/ hold the base and the adapter in Hugging "
        "Face PEFT's format (adapter_config.json, adapter_model.safetensors). 0: no LoRA")
      .at_least(0);
  t.add(G::training, "lora-alpha", &o.lora_alpha,
        "LoRA's scaling numerator: the update is (alpha / rank) B A. 0: the rank (a scaling "
        "of 1, PEFT's default)")
      .at_least(0);
  t.add(G::training, "lora-targets", &o.lora_targets,
        "the projections that get an adapter: q, k, v, o, gate, up, down (or their _proj "
        "names), comma-separated, or all")
      .value_name("LIST");
  t.add(G::training, "lora-dropout", &o.lora_dropout,
        "dropout on each adapter's input in training, as PEFT's lora_dropout: an entry is "
        "zeroed with this probability and the others scaled by 1 / (1 - P), by masks that are "
        "the same at every layout; evaluation and generation drop nothing")
      .at_least(0)
      .below(1);
}

void check_lora(const CommandOptions& t, TrainOptions& o) {
  if (o.lora_rank > 0 && !o.neurons.empty())
    t.option("lora-rank").reject("trains adapters; --neurons trains neurons: choose one");
  // On the command line; a config file (as config_text writes it) names every option.
  auto typed = [&](const char* name) {
    return t.option(name).source().given && t.option(name).source().file.empty();
  };
  if (o.lora_rank == 0 && typed("lora-rank"))
    t.option("lora-rank").reject("must be at least 1 (leave it out to train without LoRA)");
  if (o.lora_rank == 0)
    for (const char* name : {"lora-alpha", "lora-targets", "lora-dropout"})
      if (typed(name)) t.option(name).reject("is a LoRA option: give --lora-rank too");
  if (o.lora_rank > 0) {
    if (o.lora_alpha == 0) o.lora_alpha = double(o.lora_rank);
    try {
      lora::parse_targets(o.lora_targets);
    } catch (const Error& e) {
      t.option("lora-targets").reject(e.what());
    }
  }
}

void add_eval_options(CommandOptions& t, EvalOptions& o) {
  t.add(G::model, "model", &o.model,
        "model directory (config.json and weights), or a preset name (" + preset_list() +
            ") with --init")
      .value_name("DIR|NAME");
  add_model_options(t, &o.init, &o.device, &o.dtype);
  t.add(G::data, "data", &o.data,
        "what to evaluate on: synthetic (the built-in tasks' held-out split) or sft:FILE.jsonl "
        "(read with the model's tokenizer and chat template; every line is evaluated)")
      .value_name("SPEC");
  t.add(G::data, "tasks", &o.tasks,
        "comma-separated tasks to evaluate: synthetic ones, or the \"task\" names of the sft "
        "file's lines; empty: all")
      .value_name("LIST");
  t.add(G::data, "seq-len", &o.seq_len, "tokens per sequence (synthetic)").at_least(1);
  t.add(G::data, "examples", &o.examples, "held-out examples per task (synthetic)").at_least(1);
  t.add(G::data, "split", &o.split,
        "the held-out split: eval (what results report) or validation (disjoint from both "
        "train and eval: choose settings on it)")
      .one_of({"eval", "validation"});
  t.add(G::data, "seed", &o.seed, "seed of the held-out examples");
  t.add(G::evaluation, "micro-batch", &o.micro_batch, "sequences per forward pass").at_least(1);
  add_parallel_options(t, &o.parallelism, /*pipeline=*/true);
}

void check_eval(const CommandOptions& table, EvalOptions& o) {
  if (o.model.empty())
    fail("missing --model (a model directory, or a preset name with --init); ", table.help_hint());
  check_device_and_dtype(table, o.device, o.dtype);
  check_parallel(table, o.parallelism, o.device);
  check_tasks(table, o.tasks);
  if (o.data != "synthetic" && (o.data.rfind("sft:", 0) != 0 || o.data.size() == 4))
    table.option("data").reject("must be synthetic or sft:FILE.jsonl");
}

namespace {

// Each names a file or directory that has no sensible default.
void check_merge(const CommandOptions& table, MergeOptions&) {
  for (const char* required : {"base", "out"})
    if (!table.option(required).source().given)
      fail("missing --", required, "; ", table.help_hint());
}

}  // namespace

Device EvalOptions::compute_device() const { return device_named(device); }
DType EvalOptions::compute_dtype() const { return resolve_dtype(dtype, device); }
std::vector<std::string> EvalOptions::task_list() const { return tasks_or_all(tasks); }

std::unique_ptr<CommandOptions> train_command_options(TrainOptions& o) {
  auto table = std::make_unique<CommandOptions>(
      "train",
      "Trains a Llama model on a data set: every weight (full fine-tuning), or only the "
      "neurons of a neuron set (--neurons, from `neft select`), with AdamW, a "
      "learning-rate schedule with warmup, gradient clipping and accumulation. The model starts "
      "from a preset shape or a Hugging Face model directory, randomly initialised or loaded "
      "from --init. Checkpoints, the metrics log (one JSON object per line) and the final "
      "model, loadable by `neft eval` and Hugging Face transformers, go to --out; --resume "
      "continues an interrupted run from its newest checkpoint.");
  add_train_options(*table, o);
  table
      ->add(G::model, "num-layers", &o.num_layers,
            "build the model with only its first this many layers (a preset's or config.json's "
            "shape otherwise): how a large model's shape runs on a small machine, e.g. "
            "llama2-70b's width at 2 layers; loaded weights must hold exactly this many layers. "
            "0: all of them")
      .value_name("L")
      .at_least(0);
  table
      ->add(G::training, "neurons", &o.neurons,
            "train only the neurons of this neuron-set file (`neft select`, `neft finetune`); "
            "every other weight stays as loaded, bit for bit, and the sparse delta of the "
            "trained rows is written to <out>/delta.safetensors. Empty: every weight trains")
      .value_name("FILE");
  add_lora_options(*table, o);
  return table;
}

void add_train_options(CommandOptions& t, TrainOptions& o) {
  t.add(G::model, "model", &o.model,
        "model preset (" + preset_list() +
            ") or a Hugging Face model directory (config.json, and weights to start from)")
      .value_name("NAME|DIR")
      .not_empty();
  add_model_options(t, &o.init, &o.device, &o.dtype);

  t.add(G::data, "data", &o.data,
        "`synthetic` (the built-in suite of small tasks), `sft:FILE.jsonl` (prompt/response "
        "token ids, loss on the response) or `tokens:FILE` (a token file; see data/README.md)")
      .value_name("SPEC")
      .not_empty();
  t.add(G::data, "tasks", &o.tasks,
        "comma-separated tasks to train on: the synthetic suite's (copy, reverse, sort, shift, "
        "dedup, add) or, with sft data, the \"task\" names of its lines (and of --eval-data's); "
        "empty: all")
      .value_name("LIST");
  t.add(G::data, "seq-len", &o.seq_len, "tokens per sequence").at_least(1);
  add_packing_option(t, &o.packing);

  t.add(G::training, "micro-batch", &o.micro_batch,
        "sequences per forward/backward pass on each data-parallel rank (a step trains on "
        "micro-batch x grad-accum x dp sequences)")
      .at_least(1);
  t.add(G::training, "grad-accum", &o.grad_accum,
        "micro-batches whose gradients are summed into one optimizer step")
      .at_least(1);
  t.add(G::training, "steps", &o.steps, "optimizer steps in the whole run").at_least(1);
  t.add(G::training, "seed", &o.seed, "seed of the initial weights and the data order");
  t.add_switch(G::training, "recompute", &o.recompute,
               "recompute activations in the backward pass instead of keeping them (less "
               "memory, more compute)");
  t.add(G::training, "stop-after", &o.stop_after,
        "stop the process after this many steps of this invocation, as if it were killed "
        "(to test --resume); 0: off")
      .at_least(0);
  add_parallel_options(t, &o.parallelism, /*pipeline=*/true);
  t.add_switch(G::parallelism, "distributed-optimizer", &o.distributed_optimizer,
               "split the f32 master copies and AdamW moments over the data-parallel ranks "
               "(ZeRO-1, as Megatron-LM's distributed optimizer): gradients are "
               "reduce-scattered and the updated weights all-gathered, about the bytes of the "
               "all-reduce they replace; 6 + 12/dp bytes a bf16 parameter instead of 18. "
               "Nothing changes at dp 1");
  t.add_switch(G::parallelism, "sequence-parallel", &o.parallelism.sequence_parallel,
               "Megatron-LM's sequence parallelism: between the tensor-parallel layers each of "
               "the --tp ranks holds 1/tp of a micro-batch's tokens (the norms, the residual adds, "
               "the embedding's output and the final norm run on them), which divides their "
               "activations by tp; the layers' all-reduces become all-gathers and "
               "reduce-scatters, and each column-parallel layer gathers its input again in "
               "backward. micro-batch x seq-len must divide by --tp; nothing at --tp 1");

  t.add(G::optimizer, "recipe", &o.recipe,
        "where the defaults of --lr, --warmup and --weight-decay come from: scratch (a model "
        "trained from its random start: lr 3e-3, 50 warmup steps, weight decay 0.1) or "
        "pretrained (fine-tuning loaded weights: lr 1e-4 full, 3e-4 neuron-level, warmup 10% "
        "of the steps, weight decay 0); auto: pretrained when weights are loaded. Options "
        "given always win")
      .one_of({"auto", "scratch", "pretrained"});
  t.add(G::optimizer, "lr", &o.lr, "peak learning rate (default: the --recipe's)").above(0);
  t.add(G::optimizer, "min-lr", &o.min_lr,
        "learning rate at the end of the decay (default: a tenth of --lr)")
      .at_least(0);
  t.add(G::optimizer, "warmup", &o.warmup,
        "steps of linear warmup from 0 to --lr (default: the --recipe's)")
      .at_least(0);
  t.add(G::optimizer, "warmup-ratio", &o.warmup_ratio,
        "warmup as a share of --steps, instead of --warmup (as HF's warmup_ratio)")
      .at_least(0)
      .below(1);
  t.add(G::optimizer, "lr-schedule", &o.lr_schedule, "decay from --lr to --min-lr after warmup")
      .one_of({"cosine", "linear", "constant"});
  t.add(G::optimizer, "weight-decay", &o.weight_decay,
        "AdamW decoupled weight decay (default: the --recipe's)")
      .at_least(0);
  t.add(G::optimizer, "beta1", &o.beta1, "AdamW first-moment decay").at_least(0).below(1);
  t.add(G::optimizer, "beta2", &o.beta2, "AdamW second-moment decay").at_least(0).below(1);
  t.add(G::optimizer, "eps", &o.eps, "AdamW denominator epsilon").above(0);
  t.add(G::optimizer, "clip", &o.clip, "clip the global gradient norm to this; 0: off").at_least(0);

  t.add(G::evaluation, "eval-every", &o.eval_every,
        "evaluate on held-out examples every this many steps (under --pp the batches stream "
        "through the stages forward only); 0: off")
      .at_least(0);
  t.add(G::evaluation, "eval-data", &o.eval_data,
        "held-out data to evaluate on, sft:FILE.jsonl (the formats of --data; conversations "
        "scored on their last answer, multiple-choice items by log-likelihood), before "
        "training, every --eval-every steps and at the end, with a before/after table; empty: "
        "the synthetic tasks' held-out split (synthetic data only)")
      .value_name("SPEC");
  t.add(G::evaluation, "eval-examples", &o.eval_examples, "held-out examples per task").at_least(1);
  t.add(G::evaluation, "eval-split", &o.eval_split,
        "the held-out split to evaluate on: eval (what results report) or validation (disjoint "
        "from both train and eval: choose settings on it)")
      .one_of({"eval", "validation"});

  t.add(G::checkpointing, "save-every", &o.save_every,
        "write a checkpoint every this many steps; 0: only at the end")
      .at_least(0);
  t.add(G::checkpointing, "keep-checkpoints", &o.keep_checkpoints,
        "newest checkpoints to keep, older ones are deleted; 0: keep all")
      .at_least(0);
  t.add_switch(G::checkpointing, "resume", &o.resume,
               "continue from the newest checkpoint in --out (start afresh when there is none)");

  t.add(G::output, "out", &o.out,
        "output directory: checkpoints/, metrics.jsonl and the final model")
      .value_name("DIR")
      .not_empty();
  t.add(G::output, "metrics", &o.metrics, "metrics log (JSONL); empty: <out>/metrics.jsonl")
      .value_name("FILE");
  t.add(G::output, "log-every", &o.log_every,
        "print a progress line every this many steps (when not on a terminal)")
      .at_least(1);
}

std::unique_ptr<CommandOptions> eval_command_options(EvalOptions& o) {
  auto table = std::make_unique<CommandOptions>(
      "eval",
      "Evaluates a model on held-out data, per task: the loss on the answer tokens and the "
      "exact-match accuracy of greedy answers, on the synthetic tasks' held-out split or on "
      "your own JSONL (--data sft:FILE: conversations, prompt/completion pairs and text, scored "
      "on their last answer; multiple-choice items {\"prompt\", \"choices\", \"answer\"} "
      "scored by log-likelihood, acc and acc_norm). The model is a directory written by `neft "
      "train` (or any Hugging Face Llama directory), or a preset shape with its weights from "
      "--init.");
  CommandOptions& t = *table;
  add_eval_options(t, o);
  t.add(G::model, "delta", &o.delta,
        "a sparse delta of a neuron-level run (`neft train --neurons`) to apply to the model's "
        "weights before evaluating; empty: none")
      .value_name("FILE");
  t.add(G::model, "deactivate", &o.deactivate,
        "a neuron-set file whose neurons' outputs are zeroed while evaluating (an ffn unit's "
        "activation, a qo unit's attention output, a kv unit's key and value): the "
        "task-specific-neurons paper's deactivation; empty: none")
      .value_name("FILE");
  t.add_switch(G::output, "json", &o.json, "print one JSON line instead of a table");
  t.add(G::output, "dump-logits", &o.dump_logits,
        "also write the first batch's tokens, positions and logits to this safetensors file, "
        "to compare with another implementation (tests/golden/check_hf_load.py)")
      .value_name("FILE");
  return table;
}

std::unique_ptr<CommandOptions> merge_command_options(MergeOptions& o) {
  auto table = std::make_unique<CommandOptions>(
      "merge",
      "Applies the sparse delta of a neuron-level run (the rows of its trained neurons, "
      "written by `neft train --neurons`) to the base model it was trained from, or folds a "
      "LoRA adapter into it (W += alpha/r B A, as PEFT's merge_and_unload: --adapter DIR in "
      "PEFT's format, or the adapter a LoRA run's model/ carries), and writes the merged model "
      "as a Hugging Face directory (f32), loadable by `neft eval` and transformers. Runs on one "
      "CPU process.");
  CommandOptions& t = *table;
  t.add(G::model, "base", &o.base,
        "the base model: a Hugging Face model directory with weights, or a preset name (" +
            preset_list() + ") initialised from --seed as `neft train` initialised it")
      .value_name("DIR|NAME")
      .not_empty();
  t.add(G::model, "seed", &o.seed, "seed of a preset base's random initialisation");
  t.add(G::model, "delta", &o.delta, "the delta file (safetensors, format neft-delta)")
      .value_name("FILE");
  t.add(G::model, "adapter", &o.adapter,
        "a LoRA adapter directory (adapter_config.json, adapter_model.safetensors) to fold in")
      .value_name("DIR");
  t.add(G::output, "out", &o.out, "directory to write the merged model to (replaced atomically)")
      .value_name("DIR")
      .not_empty();
  return table;
}

std::optional<TrainOptions> parse_train_options(const std::vector<std::string>& args,
                                                std::ostream& out) {
  return parse_command<TrainOptions>(
      &train_command_options,
      [](const CommandOptions& t, TrainOptions& o) {
        check_train(t, o);
        check_lora(t, o);
      },
      args, out);
}

std::optional<EvalOptions> parse_eval_options(const std::vector<std::string>& args,
                                              std::ostream& out) {
  return parse_command<EvalOptions>(
      &eval_command_options,
      [](const CommandOptions& table, EvalOptions& o) {
        check_eval(table, o);
        if (o.data != "synthetic" && !o.dump_logits.empty())
          table.option("dump-logits").reject("dumps a synthetic batch: use it without --data");
        if (o.parallelism.pp > 1 && !o.dump_logits.empty())
          table.option("dump-logits").reject("gathers the logits of one stage: use --tp");
      },
      args, out);
}

std::optional<MergeOptions> parse_merge_options(const std::vector<std::string>& args,
                                                std::ostream& out) {
  return parse_command<MergeOptions>(&merge_command_options, &check_merge, args, out);
}

std::string train_config_text(const TrainOptions& options) {
  TrainOptions copy = options;
  return train_command_options(copy)->config_text();
}

std::string eval_config_text(const EvalOptions& options) {
  EvalOptions copy = options;
  return eval_command_options(copy)->config_text();
}

}  // namespace neft::launch
