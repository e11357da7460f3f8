#include "launch/plan.h"

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "launch/command_options.h"
#include "lora/lora.h"
#include "model/config.h"
#include "neuron/neuron_set.h"
#include "neuron/selection.h"
#include "runtime/error.h"
#include "runtime/text.h"
#include "train/gpu_model.h"
#include "train/memory_plan.h"
#include "train/model_setup.h"

namespace neft::launch {

namespace {

using G = OptionGroup;
using nlohmann::json;
using train::PlanTraining;
using train::RankMemory;
using train::RankPlan;

std::unique_ptr<CommandOptions> plan_command_options(PlanOptions& o) {
  auto table = std::make_unique<CommandOptions>(
      "plan",
      "Plans a training layout before it runs: for each pipeline stage's most loaded rank, the "
      "bytes a step holds at its peak (weights, gradients, f32 master copies, AdamW's moments, "
      "activations, communication buffers, workspace) and whether that fits the GPU's memory "
      "less a stated reserve; the bytes each rank sends over its tensor-, data- and "
      "pipeline-parallel groups per step, as `neft train` counts them (metrics.jsonl's "
      "\"ranks\" record); and a modelled step time and tokens/s per GPU (FLOPs over the GPU's "
      "dense peak times an assumed efficiency, plus bytes over NVLink within a node and "
      "InfiniBand between nodes). The memory and the bytes follow the code buffer by buffer. "
      "Options are "
      "named as neft train's, with its defaults.");
  CommandOptions& t = *table;
  t.add(G::model, "model", &o.model,
        "model preset (llama2-7b, llama2-70b, llama3-8b, ...: `neft train --help` lists them) or "
        "a Hugging Face model directory (its config.json; no weights are read)")
      .value_name("NAME|DIR")
      .not_empty();
  t.add(G::model, "num-layers", &o.num_layers,
        "plan the model with only its first this many layers, as `neft train --num-layers` "
        "builds it (a large model's width on a small machine); 0: all of them")
      .value_name("L")
      .at_least(0);
  t.add(G::model, "dtype", &o.dtype,
        "weight and activation type; auto is bf16 on a GPU and f32 on --gpu cpu, as neft "
        "train's. Gradients, master copies and moments are f32 whatever it is")
      .one_of({"auto", "f32", "bf16"});

  t.add(G::data, "seq-len", &o.seq_len, "tokens per sequence").at_least(1);

  t.add(G::training, "micro-batch", &o.micro_batch,
        "sequences per forward/backward pass on each data-parallel rank")
      .at_least(1);
  t.add(G::training, "grad-accum", &o.grad_accum,
        "micro-batches per optimizer step (the pipeline's micro-batches)")
      .at_least(1);
  t.add_switch(G::training, "recompute", &o.recompute,
               "recompute each block's activations in backward instead of keeping them");
  t.add(G::training, "neurons", &o.neurons,
        "neuron-level training: a budget of FFN neurons spread evenly over the layers and "
        "ranks (5%params: 5% of the model's parameters, as rows of up_proj and columns of "
        "down_proj; 1000: neurons; 10%: of the FFN neurons; lora:R: LoRA of rank R's "
        "parameters), or a neuron-set file (`neft select`) counted where its neurons sit. "
        "Empty: full fine-tuning")
      .value_name("BUDGET|FILE");
  t.add_switch(G::training, "gate", &o.gate,
               "a budget's FFN neurons include gate_proj's row (`neft select --gate`)");
  t.add(G::training, "lora-rank", &o.lora_rank, "train LoRA adapters of this rank; 0: no LoRA")
      .at_least(0);
  t.add(G::training, "lora-targets", &o.lora_targets,
        "the projections that get an adapter (q, k, v, o, gate, up, down, or all)")
      .value_name("LIST");

  t.add(G::parallelism, "tp", &o.tp, "tensor-parallel ranks per model replica").at_least(1);
  t.add(G::parallelism, "pp", &o.pp, "pipeline stages per model replica").at_least(1);
  t.add(G::parallelism, "dp", &o.dp, "data-parallel replicas; 0: from --nodes, else 1").at_least(0);
  t.add(G::parallelism, "nodes", &o.nodes,
        "nodes of --gpus-per-node GPUs; the ranks left over by tp x pp are data-parallel "
        "replicas. 0: as many as tp x pp x dp ranks need")
      .at_least(0);
  t.add(G::parallelism, "gpus-per-node", &o.gpus_per_node,
        "GPUs per node: a group within one node talks over NVLink, one across nodes over "
        "InfiniBand (ranks are numbered node by node, TP innermost, then DP, then PP). 0: 8")
      .at_least(0);
  t.add_switch(G::parallelism, "distributed-optimizer", &o.distributed_optimizer,
               "split the f32 master copies and moments over the data-parallel ranks (ZeRO-1, "
               "as neft train --distributed-optimizer: 6 + 12/dp bytes a parameter for bf16 "
               "full fine-tuning); the plan is of dp rank 0, which holds the most");
  t.add_switch(G::parallelism, "sequence-parallel", &o.sequence_parallel,
               "as neft train --sequence-parallel: the norm and residual regions' activations "
               "split over the tensor-parallel ranks, the layers' all-reduces replaced by "
               "all-gathers and reduce-scatters, each column-parallel layer's input gathered "
               "again in backward (Megatron-LM's sequence parallelism); nothing at --tp 1");
  t.add(G::parallelism, "gpu", &o.gpu,
        "the GPU: its memory, dense peak and link bandwidths (cpu: this machine's memory and a "
        "nominal peak)")
      .one_of(train::gpu_model_names());
  t.add(G::parallelism, "efficiency", &o.efficiency,
        "the share of the GPU's dense peak a step's products reach, for the step time; 0: "
        "the GPU model's assumption (0.4)")
      .at_least(0)
      .below(1.000001);

  t.add_switch(G::output, "json", &o.json, "print one JSON object instead of tables");
  return table;
}

void check_plan(const CommandOptions& t, PlanOptions& o) {
  if (o.model.empty())
    fail("missing --model (a preset name or a model directory); ", t.help_hint());
  if (o.dp > 0 && o.nodes > 0) t.option("dp").reject("give --dp or --nodes, not both");
  if (o.sequence_parallel && (o.micro_batch * o.seq_len) % o.tp != 0)
    t.option("micro-batch")
        .reject("with --sequence-parallel, micro-batch x seq-len (" +
                std::to_string(o.micro_batch) + " x " + std::to_string(o.seq_len) +
                " tokens) must divide by --tp " + std::to_string(o.tp) +
                ": each tp rank holds an equal share of them");
  if (o.gpu == "cpu" && o.dtype == "bf16")
    t.option("dtype").reject("the cpu backend runs f32 (bf16 needs a GPU)");
  if (!o.neurons.empty() && o.lora_rank > 0)
    t.option("lora-rank").reject("trains adapters; --neurons trains neurons: choose one");
  if (o.gate && (o.neurons.empty() || std::filesystem::exists(o.neurons)))
    t.option("gate").reject("joins gate_proj to a budget's neurons: give --neurons BUDGET");
  if (o.lora_rank > 0) try {
      lora::parse_targets(o.lora_targets);
    } catch (const Error& e) {
      t.option("lora-targets").reject(e.what());
    }
  if (!o.neurons.empty() && !std::filesystem::exists(o.neurons)) try {
      neuron::Budget::parse(o.neurons);
    } catch (const Error& e) {
      t.option("neurons").reject(std::string("neither a neuron-set file nor a budget: ") +
                                 e.what());
    }
  if (o.nodes > 0) {
    const int64_t gpn =
        o.gpus_per_node > 0 ? o.gpus_per_node : train::gpu_model(o.gpu).gpus_per_node;
    if ((o.nodes * gpn) % (o.tp * o.pp) != 0)
      t.option("nodes").reject(
          std::to_string(o.nodes) + " x " + std::to_string(gpn) +
          " GPUs is not a multiple of tp x pp = " + std::to_string(o.tp * o.pp));
  }
}

// ---- the plan -------------------------------------------------------------------------------

struct Planned {
  train::PlanSpec spec;
  train::GpuModel gpu;
  train::Placement placement;
  std::vector<RankPlan> ranks;
  train::StepTime time;
};

Planned make_plan(const PlanOptions& o) {
  Planned p;
  p.gpu = train::gpu_model(o.gpu);
  if (o.efficiency > 0) p.gpu.efficiency = o.efficiency;
  train::PlanSpec& s = p.spec;
  s.config = model::resolve_config(o.model);
  if (o.num_layers > 0) s.config.layers = o.num_layers;
  train::check_sequence_length(s.config, o.seq_len);
  s.tp = int(o.tp);
  s.pp = int(o.pp);
  const int gpn = int(o.gpus_per_node > 0 ? o.gpus_per_node : p.gpu.gpus_per_node);
  s.dp = o.nodes > 0 ? int(o.nodes * gpn / (o.tp * o.pp)) : int(std::max<int64_t>(o.dp, 1));
  s.seq_len = o.seq_len;
  s.micro_batch = o.micro_batch;
  s.grad_accum = o.grad_accum;
  const bool on_gpu = o.gpu != "cpu";
  s.dtype = o.dtype == "f32" || (o.dtype == "auto" && !on_gpu) ? DType::F32 : DType::BF16;
  s.cuda = on_gpu;
  s.recompute = o.recompute;
  s.distributed_optimizer = o.distributed_optimizer;
  s.sequence_parallel = o.sequence_parallel && o.tp > 1;  // nothing to split at tp 1
  if (!o.neurons.empty()) {
    s.training = PlanTraining::Neurons;
    if (std::filesystem::exists(o.neurons)) {
      const neuron::NeuronSet set = neuron::load_neuron_set(o.neurons);
      s.neurons = train::count_neurons(set, neuron::space_of(set, s.config, s.tp, s.pp, o.neurons));
    } else {
      neuron::NeuronKinds kinds;
      kinds.ffn_gate = o.gate;
      s.neurons = train::spread_neurons(neuron::NeuronSpace(s.config, kinds, s.tp, s.pp),
                                        neuron::Budget::parse(o.neurons));
    }
  } else if (o.lora_rank > 0) {
    s.training = PlanTraining::Lora;
    s.lora.rank = o.lora_rank;
    s.lora.alpha = double(o.lora_rank);
    s.lora.targets = lora::parse_targets(o.lora_targets);
  }
  p.placement = {s.tp, s.pp, s.dp, gpn};
  p.ranks = train::plan_ranks(s);
  p.time = train::model_step_time(s, p.ranks, p.gpu, p.placement);
  return p;
}

// ---- text ----------------------------------------------------------------------------------

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}
std::string gib(double bytes) { return fmt("%.2f", bytes / double(1 << 30)); }
std::string pad(std::string s, size_t width, bool right = true) {
  if (s.size() >= width) return s;
  return right ? std::string(width - s.size(), ' ') + s : s + std::string(width - s.size(), ' ');
}

bool same_memory(const RankMemory& a, const RankMemory& b) {
  return a.weights == b.weights && a.gradients == b.gradients && a.master == b.master &&
         a.moments == b.moments && a.activations == b.activations &&
         a.comm_buffers == b.comm_buffers && a.workspace == b.workspace;
}

// Each stage's most loaded rank, and runs of consecutive stages whose ranks hold the same.
struct StageGroup {
  int first = 0, last = 0;
  const RankPlan* rank = nullptr;
};
std::vector<StageGroup> stage_groups(const Planned& p) {
  std::vector<StageGroup> groups;
  for (int stage = 0; stage < p.spec.pp; ++stage) {
    const RankPlan* best = nullptr;
    for (const RankPlan& r : p.ranks)
      if (r.pp_stage == stage && (!best || r.memory.total > best->memory.total)) best = &r;
    if (!groups.empty() && same_memory(groups.back().rank->memory, best->memory) &&
        stage != p.spec.pp - 1 && groups.back().first != 0)
      groups.back().last = stage;
    else
      groups.push_back({stage, stage, best});
  }
  return groups;
}

std::string training_text(const train::PlanSpec& s) {
  const double params = double(s.config.parameter_count());
  const bool f32 = s.dtype == DType::F32;
  switch (s.training) {
    case PlanTraining::Full:
      return std::string("full fine-tuning: every parameter; per parameter ") +
             (f32 ? "4 bytes of weight, 4 of gradient, 8 of moments (the f32 weight is its own "
                    "master)"
                  : "2 bytes of weight, 4 of gradient, 4 of master copy, 8 of moments");
    case PlanTraining::Neurons:
      return "neuron-level: " + std::to_string(s.neurons.neurons) + " neurons (" +
             s.neurons.kinds.str() + (s.neurons.kinds.ffn_gate ? " with gate" : "") + "), " +
             count_text(double(s.neurons.params)) + " parameters (" +
             fmt("%.2f", 100.0 * double(s.neurons.params) / params) +
             "% of the model); per trained parameter an f32 master row, gradient row and two "
             "moments (16 bytes); weight gradients for the selected rows only";
    case PlanTraining::Lora:
      return "LoRA rank " + std::to_string(s.lora.rank) + " on " + join(s.lora.targets, ",") +
             ": " + count_text(double(lora::parameter_count(s.lora, s.config))) +
             " parameters; every weight frozen";
  }
  return "";
}

std::string link_name(bool in_node) { return in_node ? "NVLink" : "InfiniBand"; }

void print_text(const Planned& p, std::ostream& out) {
  const train::PlanSpec& s = p.spec;
  const model::LlamaConfig& c = s.config;
  const int gpus = s.tp * s.pp * s.dp;
  const bool cpu = p.gpu.name == "cpu";
  out << c.name << ": " << c.layers << " layers, " << count_text(double(c.parameter_count()))
      << " parameters, hidden " << c.hidden << ", intermediate " << c.intermediate << ", "
      << c.heads << " heads (" << c.kv_heads << " kv), vocabulary " << c.vocab << "\n";
  out << "layout: tp " << s.tp << " x pp " << s.pp << " x dp " << s.dp << " = " << gpus
      << (cpu ? " ranks on " + p.gpu.description
              : " GPUs, " + std::to_string(p.placement.nodes()) + " node" +
                    (p.placement.nodes() > 1 ? "s" : "") + " of " +
                    std::to_string(p.placement.gpus_per_node) + " " + p.gpu.name)
      << "\n";
  out << "step: micro-batch " << s.micro_batch << " x seq-len " << s.seq_len << " x grad-accum "
      << s.grad_accum << " per replica, " << dtype_name(s.dtype) << ", activations "
      << (s.recompute ? "recomputed per block (--recompute)" : "kept")
      << (s.sequence_parallel
              ? ", the norm and residual regions' split over tp (--sequence-parallel: " +
                    std::to_string(s.micro_batch * s.seq_len / s.tp) + " tokens a rank)"
              : "")
      << "\n";
  out << "training: " << training_text(s) << "\n";
  if (s.distributed_optimizer && s.dp > 1)
    out << "optimizer: master copies and moments split over the " << s.dp
        << " data-parallel ranks (--distributed-optimizer); gradients reduce-scattered, weights "
           "all-gathered\n";

  const std::vector<StageGroup> groups = stage_groups(p);
  const size_t label_width = 24, col = 18;
  out << "\n" << pad("memory per rank, GiB", label_width, false);
  for (const StageGroup& g : groups)
    out << pad(g.first == g.last
                   ? "stage " + std::to_string(g.first)
                   : "stages " + std::to_string(g.first) + "-" + std::to_string(g.last),
               col);
  out << "\n" << pad("", label_width, false);
  for (const StageGroup& g : groups) {
    const model::LayerRange l = g.rank->layers;
    out << pad(g.first == g.last
                   ? "layers " + std::to_string(l.first) + "-" + std::to_string(l.last - 1)
                   : std::to_string(l.last - l.first) + " layers each",
               col);
  }
  out << "\n";
  auto row = [&](const char* label, int64_t RankMemory::*field) {
    out << pad(std::string("  ") + label, label_width, false);
    for (const StageGroup& g : groups) out << pad(gib(double(g.rank->memory.*field)), col);
    out << "\n";
  };
  row("weights", &RankMemory::weights);
  row("gradients", &RankMemory::gradients);
  row("f32 master copies", &RankMemory::master);
  row("Adam moments", &RankMemory::moments);
  row("activations", &RankMemory::activations);
  row("communication buffers", &RankMemory::comm_buffers);
  row("workspace", &RankMemory::workspace);
  row("total", &RankMemory::total);
  const RankPlan& worst = p.ranks[train::most_loaded(p.ranks)];
  const double usable = p.gpu.usable_bytes(), total = double(worst.memory.total);
  out << "the most loaded rank (stage " << worst.pp_stage << ", tp rank " << worst.tp_rank
      << ") needs " << gib(total) << " GiB at its " << worst.memory.peak_phase << " peak; "
      << p.gpu.name << " has " << gib(p.gpu.memory_bytes) << " GiB, less a reserve of "
      << gib(p.gpu.reserve_bytes())
      << (cpu ? " GiB for the process itself"
              : " GiB (2 GiB for the CUDA context, cuBLASLt's workspace and NCCL's buffers, and "
                "5% for the allocator's fragmentation)")
      << ": " << gib(usable) << " GiB usable\n";
  out << (total <= usable ? "fits: yes, " + gib(usable - total) + " GiB to spare"
                          : "fits: no, " + gib(total - usable) + " GiB over")
      << "\n";

  out << "\ncommunication per step, each rank (as neft train counts it: metrics.jsonl's "
         "tp_bytes_per_step, dp_bytes_per_step)\n";
  // A group of one rank sends nothing: no link to name.
  auto sent = [&](const char* group, int64_t bytes, int size, bool in_node) {
    return std::string(group) + " " +
           (size == 1 ? std::string("-")
                      : bytes_text(double(bytes)) + " (" + std::to_string(bytes) + " B, " +
                            link_name(in_node) + ")");
  };
  for (const StageGroup& g : groups) {
    const RankPlan& r = *g.rank;
    out << "  stage "
        << (g.first == g.last ? std::to_string(g.first)
                              : std::to_string(g.first) + "-" + std::to_string(g.last))
        << ": " << sent("tp", r.tp_bytes_per_step, s.tp, p.placement.tp_in_node()) << ", "
        << sent("dp", r.dp_bytes_per_step, s.dp, p.placement.dp_in_node()) << ", "
        << sent("pp", r.pp_bytes_per_step, s.pp, p.placement.pp_in_node()) << "\n";
  }

  const train::StepTime& t = p.time;
  const double peak = p.gpu.peak_flops(s.dtype);
  out << "\nstep time, modelled (not measured): the slowest rank's "
      << fmt("%.3g",
             [&] {
               double f = 0;
               for (const RankPlan& r : p.ranks) f = std::max(f, r.flops_per_step);
               return f;
             }())
      << " FLOPs at " << fmt("%.0f", 100 * p.gpu.efficiency) << "% of " << fmt("%.0f", peak / 1e12)
      << " TFLOP/s " << dtype_name(s.dtype) << " (assumed), links at "
      << fmt("%.0f", 100 * p.gpu.link_efficiency) << "% of "
      << fmt("%.0f", p.gpu.nvlink_bytes_per_s / 1e9) << " GB/s NVLink, "
      << fmt("%.0f", p.gpu.ib_bytes_per_s / 1e9)
      << " GB/s InfiniBand per GPU, nothing overlapped\n";
  out << "  compute " << fmt("%.3f", t.compute_s) << " s + tp " << fmt("%.3f", t.tp_s) << " s + pp "
      << fmt("%.3f", t.pp_s) << " s + pipeline bubble " << fmt("%.3f", t.bubble_s) << " s + dp "
      << fmt("%.3f", t.dp_s) << " s = " << fmt("%.3f", t.total_s) << " s a step, "
      << fmt("%.0f", t.tokens_per_s_per_gpu) << " tokens/s per GPU\n";
}

json memory_json(const RankMemory& m) {
  return {{"weights", m.weights},         {"gradients", m.gradients},
          {"master", m.master},           {"moments", m.moments},
          {"activations", m.activations}, {"comm_buffers", m.comm_buffers},
          {"workspace", m.workspace},     {"total", m.total},
          {"peak_phase", m.peak_phase}};
}

void print_json(const Planned& p, std::ostream& out) {
  const train::PlanSpec& s = p.spec;
  json ranks = json::array();
  for (const RankPlan& r : p.ranks)
    ranks.push_back({{"tp", r.tp_rank},
                     {"pp", r.pp_stage},
                     {"layers", {r.layers.first, r.layers.last}},
                     {"trained_parameters", r.trained_parameters},
                     {"memory", memory_json(r.memory)},
                     {"tp_bytes_per_step", r.tp_bytes_per_step},
                     {"dp_bytes_per_step", r.dp_bytes_per_step},
                     {"pp_bytes_per_step", r.pp_bytes_per_step},
                     {"forwards_per_step", r.forwards_per_step},
                     {"flops_per_step", r.flops_per_step}});
  const RankPlan& worst = p.ranks[train::most_loaded(p.ranks)];
  const char* training = s.training == PlanTraining::Full      ? "full"
                         : s.training == PlanTraining::Neurons ? "neurons"
                                                               : "lora";
  const json j = {{"model", s.config.name},
                  {"layers", s.config.layers},
                  {"parameters", s.config.parameter_count()},
                  {"layout",
                   {{"tp", s.tp},
                    {"pp", s.pp},
                    {"dp", s.dp},
                    {"nodes", p.placement.nodes()},
                    {"gpus_per_node", p.placement.gpus_per_node}}},
                  {"step",
                   {{"seq_len", s.seq_len},
                    {"micro_batch", s.micro_batch},
                    {"grad_accum", s.grad_accum},
                    {"dtype", dtype_name(s.dtype)},
                    {"recompute", s.recompute},
                    {"distributed_optimizer", s.distributed_optimizer},

                    {"sequence_parallel", s.sequence_parallel}}},
                  {"training", training},
                  {"trained_neurons", s.neurons.neurons},
                  {"gpu",
                   {{"name", p.gpu.name},
                    {"memory_bytes", p.gpu.memory_bytes},
                    {"reserve_bytes", p.gpu.reserve_bytes()},
                    {"usable_bytes", p.gpu.usable_bytes()},
                    {"peak_flops", p.gpu.peak_flops(s.dtype)},
                    {"efficiency", p.gpu.efficiency},
                    {"nvlink_bytes_per_s", p.gpu.nvlink_bytes_per_s},
                    {"ib_bytes_per_s", p.gpu.ib_bytes_per_s},
                    {"link_efficiency", p.gpu.link_efficiency}}},
                  {"ranks", ranks},
                  {"most_loaded", {{"tp", worst.tp_rank}, {"pp", worst.pp_stage}}},
                  {"peak_bytes", worst.memory.total},
                  {"fits", double(worst.memory.total) <= p.gpu.usable_bytes()},
                  {"step_time_modelled",
                   {{"compute_s", p.time.compute_s},
                    {"tp_s", p.time.tp_s},
                    {"pp_s", p.time.pp_s},
                    {"bubble_s", p.time.bubble_s},
                    {"dp_s", p.time.dp_s},
                    {"total_s", p.time.total_s},
                    {"tokens_per_s_per_gpu", p.time.tokens_per_s_per_gpu}}}};
  out << j.dump() << "\n";
}

}  // namespace

std::optional<PlanOptions> parse_plan_options(const std::vector<std::string>& args,
                                              std::ostream& out) {
  return parse_command<PlanOptions>(&plan_command_options, &check_plan, args, out);
}

int run_plan(const PlanOptions& o) {
  const Planned p = make_plan(o);
  if (o.json)
    print_json(p, std::cout);
  else
    print_text(p, std::cout);
  return 0;
}

}  // namespace neft::launch
