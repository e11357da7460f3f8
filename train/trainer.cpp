#include "train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

#include "data/batch_source.h"
#include "data/synthetic.h"
#include "lora/lora.h"
#include "lora/peft_format.h"
#include "model/config.h"
#include "model/hf_checkpoint.h"
#include "model/hf_companion_files.h"
#include "model/safetensors.h"
#include "neuron/neuron_set.h"
#include "neuron/trainable.h"
#include "optim/adamw.h"
#include "optim/schedule.h"
#include "parallel/text_messages.h"
#include "runtime/atomic_file.h"
#include "runtime/crash_point.h"
#include "runtime/device.h"
#include "runtime/json_file.h"
#include "runtime/text.h"
#include "train/backward_floor.h"
#include "train/base_fingerprint.h"
#include "train/checkpoint_dir.h"
#include "train/delta_checkpoint.h"
#include "train/distributed_checkpoint.h"
#include "train/eval_report.h"
#include "train/evaluate.h"
#include "train/metrics_log.h"
#include "train/model_setup.h"
#include "train/parallel_job.h"
#include "train/preemption.h"
#include "train/progress.h"
#include "train/rank_stats.h"
#include "train/run_output.h"
#include "train/sharded_checkpoint.h"
#include "train/step_data.h"
#include "train/train_step.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace neft::train {

namespace {

constexpr const char* kTrainerStateFile = "trainer_state.json";
constexpr const char* kNeuronsFile = "neurons.safetensors";

std::string data_spec(const TrainOptions& o) { return train::data_spec(o.data, o.tasks); }

lora::LoraConfig lora_config(const TrainOptions& o) {
  return {o.lora_rank, o.lora_alpha, lora::parse_targets(o.lora_targets), o.lora_dropout};
}

// A training checkpoint (train/sharded_checkpoint.h): each rank's slices of what trains, in a
// file of its own, written by every rank at once into the directory rank 0 opened; then rank 0
// writes the index, the config and where the run stood (step, data position, the base model's
// fingerprint), and renames the directory into place. Every rank waits until it is.
void save_training_checkpoint(const ParallelJob& job, model::LlamaModel& m, const optim::AdamW& opt,
                              int64_t step, const data::BatchSource& source, const TrainOptions& o,
                              const json& base) {
  auto write_state = [&](const std::string& dir) {
    write_sharded_state(dir, m, opt, job.dp_rank() == 0, job.world());
  };
  if (!job.writes_output()) {
    write_state(parallel::broadcast_text("", job.world(), 0));
    job.barrier();
    return;
  }
  save_checkpoint(
      o.out, step,
      [&](const fs::path& dir) {
        write_state(parallel::broadcast_text(dir.string(), job.world(), 0));
        model::save_hf_config(m.config(), (dir / "config.json").string(),
                              model::torch_dtype_name(m.options().dtype));
        model::write_companion_files(model::companion_source(o.model, o.init), m.config(),
                                     dir.string());
        const json state = {{"step", step},
                            {"optimizer_steps", opt.steps_taken()},
                            {"data", source.position()},
                            {"seed", o.seed},
                            {"model", m.config().name},
                            {"base", base}};
        write_file_atomic((dir / kTrainerStateFile).string(), state.dump(2) + "\n");
      },
      o.keep_checkpoints);
  job.barrier();
}

// The final model/ as an HF directory, streamed tensor by tensor from the ranks
// (train/distributed_checkpoint.h, save_model); a LoRA run's adapter beside it in PEFT's
// format (lora/peft_format.h), gathered whole first (it is small).
void save_final_model(const ParallelJob& job, model::LlamaModel& m, const fs::path& dir,
                      const TrainOptions& o) {
  if (!job.holds_output_shards()) return;
  model::NamedTensors adapter;
  for (const Parameter* p : lora::lora_parameters(m))
    adapter.emplace_back(p->name, gather_whole(p->value, *p, m.options().tp));
  adapter = collect_stages(std::move(adapter), job.output_stages());
  const std::string base = o.init.empty() ? o.model : o.init;
  save_model(m, dir.string(), job.writes_output(), job.output_stages(),
             model::companion_source(o.model, o.init), [&](const std::string& temp) {
               if (!adapter.empty()) lora::write_peft_files(temp, {lora_config(o), adapter}, base);
             });
}

bool has_frozen_parameters(model::LlamaModel& m) {
  for (const Parameter* p : m.parameters())
    if (!p->trainable) return true;
  return false;
}

// Restores a checkpoint written by save_training_checkpoint, at this run's layout (every
// rank reads its own slices); returns its step. Its trainer_state.json is checked before
// anything is restored: a step that is negative, disagrees with the directory's name, or lies
// beyond --steps is refused, as is a base model other than the checkpoint's when this run
// freezes any weight (the checkpoint does not hold frozen weights); the run directory is left
// as it was.
int64_t read_checkpoint(const fs::path& dir, model::LlamaModel& m, optim::AdamW& opt,
                        data::BatchSource& source, const TrainOptions& o, const json& base) {
  const std::string state_path = (dir / kTrainerStateFile).string();
  const json s = read_json_file(state_path);
  const auto integer = [&](const char* key) {
    if (!s.is_object() || !s.contains(key) || !s[key].is_number_integer())
      fail(state_path, ": key '", key, "' must be an integer (got ",
           s.is_object() && s.contains(key) ? json_excerpt(s[key]) : "nothing", ")");
    return s[key].get<int64_t>();
  };
  const int64_t step = integer("step"), optimizer_steps = integer("optimizer_steps");
  if (step < 0 || optimizer_steps < 0)
    fail(state_path, ": key '", step < 0 ? "step" : "optimizer_steps", "' is negative");
  if (const auto named = checkpoint_step(dir); named && *named != step)
    fail(state_path, ": key 'step' is ", step, " but the directory is ", dir.filename().string());
  if (step > o.steps)
    fail(state_path, ": the checkpoint is at step ", step, ", beyond --steps ", o.steps,
         "; pass a larger --steps to train on from it");
  if (!s.contains("data")) fail(state_path, ": no key 'data'");
  if (has_frozen_parameters(m)) check_same_base(dir.string(), base);
  if (!ShardedCheckpoint::is_sharded(dir.string()))
    fail(dir.string(), ": no ", kCheckpointIndexFile,
         " (a checkpoint of an older neft, which wrote whole tensors): resume it with that "
         "version, or start a new run from its weights with --init");
  try {
    restore_trainable_state(ShardedCheckpoint(dir.string()), m, opt, optimizer_steps);
    source.restore(s.at("data"));
  } catch (const json::exception& e) {
    fail(state_path, ": ", e.what());
  }
  return step;
}

}  // namespace

int run_training(const TrainOptions& o) {
  const optim::LrSchedule schedule{o.lr_schedule, float(o.lr), float(o.min_lr), o.warmup, o.steps};
  schedule.validate();
  const ParallelJob job = ParallelJob::start(o.parallelism, o.device);
  catch_stop_signals();
  const bool rank0 = job.writes_output();
  model::ModelOptions mopts{o.compute_device(), o.compute_dtype(), o.recompute};
  mopts.tp = job.tensor_parallel();
  mopts.pp_stage = job.pp_stage();
  mopts.pp_stages = job.pp_size();
  auto model = build_model({o.model, o.init, o.num_layers}, mopts, o.seed);
  check_sequence_length(model->config(), o.seq_len);
  const Device device = mopts.device;
  auto source = task_batch_source({o.data, o.tasks, o.packing, o.model, o.init}, o.micro_batch,
                                  o.seq_len, o.seed, model->config().vocab);
  int64_t start = 0;
  const auto latest = find_latest_checkpoint(o.out);
  if (latest && !o.resume)
    fail("--out ", o.out, " already holds a run (", latest->string(),
         "): pass --resume to continue it, or choose another --out");
  if (!lora::lora_parameters(*model).empty() && o.lora_rank == 0)
    fail("--init ", o.init.empty() ? o.model : o.init,
         " carries a LoRA adapter: fold it into the weights with `neft merge` first, or train a "
         "new adapter on the merged model with --lora-rank");
  if (o.lora_rank > 0) {
    const lora::LoraConfig l = lora_config(o);
    lora::attach_lora(*model, l, o.seed);
    if (rank0)
      std::printf(
          "training LoRA adapters of rank %lld (alpha %g) on %s: %lld parameters; every "
          "weight is frozen\n",
          (long long)l.rank, l.alpha, o.lora_targets.c_str(),
          (long long)lora::parameter_count(l, model->config()));
  }
  // Nothing is written before the first step has completed (train/run_output.h).
  std::optional<neuron::NeuronSet> neurons;
  // Neuron-level training: only the file's neurons train (it is kept with the run so that
  // the run says what it trained).
  if (!o.neurons.empty()) {
    neurons = neuron::load_neuron_set(o.neurons);
    const neuron::NeuronSpace space =
        neuron::space_of(*neurons, model->config(), mopts.tp.size, job.pp_size(), o.neurons);
    neuron::train_only(*model, space, neurons->ids);
    if (rank0)
      std::printf(
          "training %lld neurons (%s, %lld parameters) of %s; every other weight is frozen\n",
          (long long)neurons->ids.size(), space.kinds().str().c_str(), (long long)neurons->params,
          o.neurons.c_str());
  }
  // What trains is set: backward skips the same frozen work on every rank.
  agree_backward_floor(*model, job.tp(), job.pp());
  // The distributed optimizer keeps this data-parallel rank's rows of the state alone.
  const bool distributed_optimizer = o.distributed_optimizer && job.dp_size() > 1;
  optim::AdamW opt(model->parameters(),
                   {float(o.beta1), float(o.beta2), float(o.eps), float(o.weight_decay)},
                   distributed_optimizer ? optim::StatePartition{job.dp_rank(), job.dp_size()}
                                         : optim::StatePartition{});
  const json base = base_record({o.model, o.init, o.num_layers}, model->config(), o.seed);
  if (latest) {
    start = read_checkpoint(*latest, *model, opt, *source, o, base);
    if (rank0) std::printf("resuming from %s (step %lld)\n", latest->c_str(), (long long)start);
  }
  if (rank0 && !o.recipe_note.empty() && !latest) std::printf("%s\n", o.recipe_note.c_str());
  RunOutput output(o.out, o.metrics_path(), start, rank0);
  if (neurons)
    output.on_open([&] {
      const fs::path kept = fs::path(o.out) / kNeuronsFile;
      if (!(fs::exists(kept) && fs::equivalent(kept, o.neurons)))
        neuron::save_neuron_set(kept.string(), *neurons);
    });
  const bool synthetic = o.data.rfind("synthetic", 0) == 0;
  const data::Split split = data::parse_held_out_split(o.eval_split);
  // Held-out user data, read once (data/sft.h, for evaluation).
  std::optional<data::SftDataset> held;
  if (!o.eval_data.empty())
    held = data::load_sft_jsonl(o.eval_data.substr(4), {int32_t(model->config().vocab),
                                                        model::companion_source(o.model, o.init),
                                                        /*evaluation=*/true, split_list(o.tasks)});
  std::optional<std::vector<TaskScore>> before, after;
  // Every rank evaluates (a TP group's ranks each hold part of the vocabulary, a pipeline's
  // stages pass each batch on: train/evaluate.h); rank 0 logs.
  auto evaluate = [&](int64_t step, Progress& progress) {
    if (!synthetic && !held) return;
    std::vector<TaskScore> scores;
    if (held) {
      scores = evaluate_dataset(*model, *held, o.micro_batch, job.pp());
    } else {
      const data::SyntheticSuite suite(o.task_list(), o.seed);
      scores = evaluate_synthetic(*model, suite, o.eval_examples, o.micro_batch, o.seq_len, split,
                                  job.pp());
    }
    json record = {{"step", step}, {"eval", json::object()}};
    if (!held && split != data::Split::Eval) record["split"] = data::split_name(split);
    std::string line =
        std::string(held ? "eval" : data::split_name(split)) + " @" + std::to_string(step) + ":";
    for (const TaskScore& s : scores) {
      record["eval"][s.task] = score_json(s);
      char buf[96];
      if (s.examples)
        std::snprintf(buf, sizeof buf, " %s loss %.3f exact %.0f%%", s.task.c_str(), s.loss,
                      100.0 * s.accuracy);
      else
        std::snprintf(buf, sizeof buf, " %s acc %.0f%%", s.task.c_str(), 100.0 * s.choice_accuracy);
      line += buf;
    }
    output.log(record);
    progress.message(line);
    (step == 0 ? before : after) = scores;
  };
  // On the user's data the model is evaluated before the first step too, for the
  // before/after table (not when resuming: the run's first evaluation is in its metrics).
  if (held && start == 0) {
    Progress quiet({o.steps, start, o.log_every, rank0});
    evaluate(0, quiet);
  }

  const int dp = job.dp_size();
  if (rank0)
    std::printf(
        "model %s: %lld parameters, %s on %s%s; data %s, %lld x %lld tokens x %lld "
        "micro-batches per step\n",
        model->config().name.c_str(), (long long)model->config().parameter_count(),
        dtype_name(mopts.dtype), device_name(device),
        job.world_size() > 1 ? (", " + job.describe()).c_str() : "", data_spec(o).c_str(),
        (long long)o.micro_batch, (long long)o.seq_len, (long long)(o.grad_accum * dp));
  Progress progress({o.steps, start, o.log_every, rank0});
  if (o.parallelism.sequence_parallel && !mopts.tp.sequence_parallel)
    progress.message(
        "--sequence-parallel does nothing at --tp 1: there is no tensor-parallel "
        "group to split the tokens over (Megatron-LM turns it off there too)");
  const auto t0 = std::chrono::steady_clock::now();
  int64_t saved_step = start;
  for (int64_t step = start; step < o.steps; ++step) {
    const std::vector<data::Batch> micro =
        draw_micro_batches(*source, o.grad_accum, job.dp_rank(), dp);
    const float lr = schedule.at(step);
    const uint64_t dp_sent = job.dp() ? job.dp()->bytes_sent() : 0;
    const uint64_t tp_sent = job.tp() ? job.tp()->bytes_sent() : 0;
    const uint64_t pp_sent = job.pp() ? job.pp()->bytes_sent() : 0;
    // The first step's peak is the step's, what `neft plan` predicts: not the setup's before
    // it (the random initialisation draws each split tensor whole; loading reads through the
    // host).
    if (step == start) reset_peak_memory(device);
    const StepResult r = train_step(*model, opt, micro, lr, float(o.clip),
                                    {job.dp(), job.pp(), distributed_optimizer}, step);
    output.open();  // the first step has completed on every rank
    crash_point("step done");
    if (step == start) {
      // What each rank trains, holds and sends, measured on the first step of the run.
      RankStats mine{job.rank(),    job.tensor_parallel().rank, job.pp_stage(),
                     job.dp_rank(), opt.trained_parameters(),   int64_t(opt.state_bytes())};
      if (job.tensor_parallel().size > 1)
        for (const Parameter* p : model->parameters())
          if (p->trainable && p->shard_dim < 0) mine.replicated_parameters += p->value.numel();
      mine.dp_bytes_per_step = int64_t((job.dp() ? job.dp()->bytes_sent() : 0) - dp_sent);
      mine.tp_bytes_per_step = int64_t((job.tp() ? job.tp()->bytes_sent() : 0) - tp_sent);
      mine.pp_bytes_per_step = int64_t((job.pp() ? job.pp()->bytes_sent() : 0) - pp_sent);
      measure_memory(mine, *model, opt);
      const std::vector<RankStats> ranks = gather_rank_stats(job, mine);
      output.log({{"step", step + 1}, {"ranks", to_json(ranks)}});
      for (const RankStats& s : ranks) progress.message(describe(s));
    }
    // Throughput counts the tokens trained on, not the padding around them.
    const int64_t slots = o.grad_accum * dp * o.micro_batch * o.seq_len;
    progress.step({step + 1, r.loss, lr, r.grad_norm, r.real_tokens});
    output.log({{"step", step + 1},
                {"loss", r.loss},
                {"lr", lr},
                {"grad_norm", r.grad_norm},
                {"tokens", r.real_tokens},
                {"padded_tokens", slots},
                {"loss_tokens", r.counted},
                {"elapsed_s", seconds_since(t0)}});
    if (o.eval_every > 0 && (step + 1) % o.eval_every == 0) evaluate(step + 1, progress);
    if (o.save_every > 0 && (step + 1) % o.save_every == 0) {
      save_training_checkpoint(job, *model, opt, step + 1, *source, o, base);
      saved_step = step + 1;
    }
    // Asked to stop (a scheduler's SIGTERM or SIGUSR1, Ctrl-C): every rank at this step.
    if (const int signal = stop_signal(job.world())) {
      if (saved_step != step + 1)
        save_training_checkpoint(job, *model, opt, step + 1, *source, o, base);
      progress.message(std::string("received ") + signal_name(signal) + ": saved " +
                       (checkpoints_dir(o.out) / checkpoint_name(step + 1)).string() +
                       " and stopped; --resume continues the run from it");
      return 0;
    }
    if (o.stop_after > 0 && step + 1 - start >= o.stop_after) {
      progress.message("stopping after " + std::to_string(o.stop_after) +
                       " steps (--stop-after), as if interrupted");
      return 0;
    }
  }
  output.open();  // a run resumed at its last step takes no step
  if (saved_step != o.steps) save_training_checkpoint(job, *model, opt, o.steps, *source, o, base);
  if (o.eval_every == 0 || o.steps % o.eval_every != 0) evaluate(o.steps, progress);
  progress.finish();
  const fs::path final_dir = fs::path(o.out) / "model";
  save_final_model(job, *model, final_dir, o);
  const fs::path delta = fs::path(o.out) / "delta.safetensors";
  if (!o.neurons.empty() && job.holds_output_shards())
    save_delta(*model, delta.string(), rank0, job.output_stages());
  job.barrier();
  if (rank0 && !o.neurons.empty())
    std::printf("saved %s (the trained neurons' rows: `neft merge --base BASE --delta %s`)\n",
                delta.c_str(), delta.c_str());
  if (rank0)
    std::printf("saved %s (HF format); metrics in %s\n", final_dir.c_str(),
                o.metrics_path().c_str());
  if (rank0 && before && after)
    std::printf("held-out %s, before and after training:\n%s", o.eval_data.c_str(),
                before_after_table(*before, *after).c_str());
  return 0;
}

}  // namespace neft::train
