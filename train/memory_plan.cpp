#include "train/memory_plan.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "model/tensor_parallel.h"
#include "optim/state_partition.h"
#include "parallel/grad_sync.h"
#include "parallel/pipeline_schedule.h"
#include "runtime/error.h"
#include "train/model_setup.h"

namespace neft::train {

namespace {

using neuron::NeuronKind;

// What a Communicator of `size` ranks counts for one operation on `bytes`: the ring volume,
// rounded down (parallel/communicator.h).
int64_t ring(int64_t bytes, int passes, int size) {
  if (size <= 1) return 0;
  return int64_t(uint64_t(passes) * uint64_t(bytes) * uint64_t(size - 1) / uint64_t(size));
}
int64_t all_reduce(int64_t bytes, int size) { return ring(bytes, 2, size); }
// reduce_scatter's bytes are its input's, all_gather's its output's: one pass of either.
int64_t one_pass(int64_t bytes, int size) { return ring(bytes, 1, size); }

// This rank's widths, with model::TensorParallel's one-line error where tp does not divide.
struct Local {
  int64_t heads, q, kv, ffn, vocab;
};
Local local_dims(const model::LlamaConfig& c, int tp) {
  model::TensorParallel t;
  t.size = tp;
  const int64_t heads = t.local(c.heads, "num_attention_heads");
  return {heads, heads * c.head_dim, t.local(c.kv_heads, "num_key_value_heads") * c.head_dim,
          t.local(c.intermediate, "intermediate_size"), t.local(c.vocab, "vocab_size")};
}

// A block's projections on this rank, [out, in] as the shard holds them, in the model's order
// (q, k, v, o, gate, up, down: model/block.cpp). A LoRA adapter on one is A [r, in] and
// B [out, r] of these same local sizes (lora/lora_adapter.h: a column base's A and a row
// base's B are whole, and so is the matching side of the shard).
struct Matrix {
  const char* target;  // LoRA's name for it
  int64_t out, in;
  bool row_parallel;  // o, down: its forward all-reduces
};
std::vector<Matrix> block_matrices(const model::LlamaConfig& c, const Local& l) {
  const int64_t C = c.hidden;
  return {{"q", l.q, C, false},    {"k", l.kv, C, false},     {"v", l.kv, C, false},
          {"o", C, l.q, true},     {"gate", l.ffn, C, false}, {"up", l.ffn, C, false},
          {"down", C, l.ffn, true}};
}

// The neuron kind and axis a projection trains under (its neuron matrix), if any.
struct NeuronRole {
  bool trains = false;
  NeuronKind kind = NeuronKind::Ffn;
  int axis = 0;
};
NeuronRole neuron_role(const neuron::NeuronKinds& kinds, const char* target) {
  const std::string proj = std::string(target) + "_proj.";
  for (NeuronKind k : kinds.list())
    for (const neuron::NeuronMatrix& m : neuron::neuron_matrices(k, kinds.ffn_gate))
      if (std::string(m.name).find(proj) != std::string::npos) return {true, k, m.axis};
  return {};
}

bool has_target(const lora::LoraConfig& l, const char* target) {
  return std::find(l.targets.begin(), l.targets.end(), target) != l.targets.end();
}

// Whether a block's projection trains (in every block alike: its trainable flag, what the
// model's backward decides by).
bool trains_matrix(const PlanSpec& s, const char* target) {
  switch (s.training) {
    case PlanTraining::Full:
      return true;
    case PlanTraining::Lora:
      return has_target(s.lora, target);
    case PlanTraining::Neurons:
      return neuron_role(s.neurons.kinds, target).trains;
  }
  return false;
}

// The lowest layer that trains anything (model/llama.h LlamaModel::backward_floor): backward
// runs nothing below it and no input gradient at it. -1 when the embedding trains.
int64_t backward_floor(const PlanSpec& s) {
  if (s.training == PlanTraining::Full) return -1;
  if (s.training == PlanTraining::Lora) return 0;  // adapters on every block
  for (size_t layer = 0; layer < s.neurons.count.size(); ++layer)
    for (const std::vector<int64_t>& ranks : s.neurons.count[layer])
      for (int64_t n : ranks)
        if (n > 0) return int64_t(layer);
  return s.config.layers;
}

bool is_qkv(const std::string& target) { return target == "q" || target == "k" || target == "v"; }

// What the block at the floor runs of its backward (model/block.cpp Block::backward without
// the input's gradient; the norms never train where there is a floor): which projections'
// backward runs, and which of them computes its input gradient.
struct FloorBlock {
  bool down = false, gate_up = false, gate_up_dx = false, o = false, o_dx = false, qkv = false;
};
FloorBlock floor_block(const PlanSpec& s) {
  auto t = [&](const char* target) { return trains_matrix(s, target); };
  const bool qkv = t("q") || t("k") || t("v"), attention = qkv || t("o");
  const bool hidden = attention || t("gate") || t("up");
  return {hidden || t("down"), hidden, attention, attention, qkv, qkv};
}

// The backward floor on one stage: the blocks whose whole backward runs (those above the
// floor), whether the floor's block is here and what it runs, whether the stage runs a
// backward at all (taking the next stage's gradient) and whether it sends its input's
// gradient back (LlamaModel::runs_backward, gives_input_grad).
struct StageBackward {
  int64_t whole = 0;
  bool at_floor = false, runs = false, gives = false;
  FloorBlock block;
  int64_t blocks_run() const { return whole + (at_floor ? 1 : 0); }  // forwards recompute repeats
};
StageBackward stage_backward(const PlanSpec& s, model::LayerRange layers, bool first, bool last) {
  const int64_t floor = backward_floor(s);
  StageBackward b;
  b.whole = std::max<int64_t>(0, layers.last - std::max(layers.first, floor + 1));
  b.at_floor = floor >= layers.first && floor < layers.last;
  b.runs = last || floor < layers.last;
  b.gives = !first && floor < layers.first;
  b.block = floor_block(s);
  return b;
}

// One parameter of the rank as the optimizer and the gradient sync see it.
struct PlanParam {
  int64_t numel = 0;
  int64_t grad_numel = -1;  // -1: frozen, no gradient
  bool neuron_level = false;
  int64_t rows = 0;   // selected neurons of a neuron-level matrix
  bool gemm = false;  // a projection or the head: its weight gradient is a matrix product
  // The gradient's rows (its first dimension; elements of a 1-D one): what the distributed
  // optimizer splits (optim/state_partition.h).
  int64_t state_rows = 0;
  optim::StateShape state() const {
    return {state_rows, state_rows > 0 ? grad_numel / state_rows : 0};
  }
};

// The rank's parameters in LlamaModel::parameters() order: the embedding (first stage), each
// block's nine weights then its adapters' A and B, the final norm and the head (last stage).
std::vector<PlanParam> rank_parameters(const PlanSpec& s, const Local& l, int tp_rank,
                                       model::LayerRange layers, bool first, bool last) {
  const model::LlamaConfig& c = s.config;
  const bool full = s.training == PlanTraining::Full;
  auto whole = [&](int64_t rows, int64_t cols, bool gemm = false) {
    return PlanParam{rows * cols, full ? rows * cols : -1, false, 0, gemm, rows};
  };
  auto adapter = [&](int64_t rows, int64_t cols) {
    return PlanParam{rows * cols, rows * cols, false, 0, false, rows};
  };
  std::vector<PlanParam> out;
  if (first) out.push_back(whole(l.vocab, c.hidden));
  for (int64_t layer = layers.first; layer < layers.last; ++layer) {
    const std::vector<Matrix> matrices = block_matrices(c, l);
    for (const Matrix& m : matrices) {
      PlanParam p = whole(m.out, m.in, true);
      const NeuronRole role = s.training == PlanTraining::Neurons
                                  ? neuron_role(s.neurons.kinds, m.target)
                                  : NeuronRole{};
      if (role.trains) {
        p.neuron_level = true;
        p.rows = p.state_rows = s.neurons.count[size_t(layer)][size_t(role.kind)][size_t(tp_rank)];
        p.grad_numel = p.rows * (role.axis == 0 ? m.in : m.out);
      }
      out.push_back(p);
    }
    out.push_back(whole(c.hidden, 1));  // input_layernorm
    out.push_back(whole(c.hidden, 1));  // post_attention_layernorm
    if (s.training == PlanTraining::Lora)
      for (const Matrix& m : matrices)
        if (has_target(s.lora, m.target)) {
          out.push_back(adapter(s.lora.rank, m.in));   // A
          out.push_back(adapter(m.out, s.lora.rank));  // B
        }
  }
  if (last) {
    out.push_back(whole(c.hidden, 1));
    if (!c.tied_embeddings) out.push_back(whole(l.vocab, c.hidden, true));
  }
  return out;
}

// The data-parallel gradient sum of parallel/grad_sync.cpp: buckets of consecutive gradients,
// each all-reduced at once (packed into one flat f32 buffer when it holds more than one). Under
// the distributed optimizer (optim/distributed_optimizer.cpp) each bucket is reduce-scattered
// from a buffer of dp blocks into one, and after the update the values all-gathered from one
// block into dp (in their dtype, `value_bytes` an element): the gradients' buffers are the
// larger.
struct GradSync {
  int64_t bytes = 0;       // what the dp communicator counts
  int64_t flat_bytes = 0;  // the largest packed buffer
};
GradSync replay_grad_sync(const std::vector<PlanParam>& params, int dp, bool split,
                          int64_t value_bytes) {
  GradSync g;
  if (dp <= 1) return g;
  if (split) {
    std::vector<optim::StateShape> shapes;
    for (const PlanParam& p : params)
      if (p.grad_numel >= 0) shapes.push_back(p.state());
    for (const optim::StateBucket& b :
         optim::state_buckets(shapes, dp, parallel::kDefaultBucketBytes)) {
      g.bytes += one_pass(dp * b.block * 4, dp) + one_pass(dp * b.block * value_bytes, dp);
      g.flat_bytes = std::max(g.flat_bytes, (dp + 1) * b.block * 4);
    }
    return g;
  }
  int64_t numel = 0, count = 0;
  auto flush = [&] {
    if (count == 0) return;
    g.bytes += all_reduce(numel * 4, dp);
    if (count > 1) g.flat_bytes = std::max(g.flat_bytes, numel * 4);
    numel = count = 0;
  };
  for (const PlanParam& p : params) {
    if (p.grad_numel < 0) continue;
    numel += p.grad_numel;
    ++count;
    if (size_t(numel) * sizeof(float) >= parallel::kDefaultBucketBytes) flush();
  }
  flush();
  return g;
}

// Rows of the norm and residual region's [tokens, hidden] tensors on a rank: every token, or
// 1/tp of them under sequence parallelism (model::TensorParallel::tokens).
int64_t region_rows(const PlanSpec& s) {
  const int64_t N = s.micro_batch * s.seq_len;
  return s.sequence_parallel && s.tp > 1 ? N / s.tp : N;
}

// The model's buffers (LlamaModel::ensure_buffers, BlockActivations, BlockScratch), LoRA's
// [N, r] U per slot and its gradient per adapter and, with dropout, its [N, in] buffer, in bytes.
// Sequence parallelism splits the [N, hidden] tensors of the norm and residual regions over the
// tensor-parallel ranks; the head's input stays whole. `slots`: the micro-batches whose
// activations the stage holds at once (model/stage_activations.h; one per micro-batch in
// flight in the 1F1B schedule).
int64_t activation_bytes(const PlanSpec& s, const Local& l, int64_t stage_layers, bool last,
                         int64_t slots) {
  const model::LlamaConfig& c = s.config;
  const int64_t dt = int64_t(dtype_size(s.dtype)), B = s.micro_batch, T = s.seq_len, N = B * T;
  const int64_t Nl = region_rows(s), act = N * c.hidden * dt, region = Nl * c.hidden * dt;
  const int64_t kept_per_block = 3 * region /* n1, mid, n2 */ + 2 * Nl * 4 /* rstd */ +
                                 2 * N * l.q * dt /* q, att */ + 2 * N * l.kv * dt /* k, v */ +
                                 B * l.heads * T * 4 /* lse */ +
                                 3 * N * l.ffn * dt /* gate, up, h */;
  const int64_t scratch = region /* dn */ + 2 * N * l.q * dt + 2 * N * l.kv * dt +
                          3 * N * l.ffn * dt + c.hidden * 4 /* frozen norm's gradient */;
  // Each slot's blocks' activations, or with recompute one set that backward refills.
  int64_t total = (s.recompute ? 1 : slots * stage_layers) * kept_per_block + scratch;
  total += slots * (stage_layers + 1) * region;  // the residual stream at each block boundary
  total += region;                               // dresidual
  if (s.recompute) total += region;              // a recomputed block's discarded output
  if (last)  // final norm's output (whole) and rstd, logits and their gradient, losses, lse,
             // dlosses, the head's input gradient
    total += act + Nl * 4 + 3 * N * 4 + 2 * N * l.vocab * dt + act;
  if (s.training == PlanTraining::Lora) {
    int64_t widest = 0;  // dropout's one buffer: the widest input of a target (lora_dropout.h)
    for (const Matrix& m : block_matrices(c, l))
      if (has_target(s.lora, m.target)) {
        total += stage_layers * (slots + 1) * N * s.lora.rank * dt;  // U per slot, dU
        widest = std::max(widest, m.in);
      }
    if (s.lora.dropout > 0) total += N * widest * dt;
  }
  return total;
}

// Matrix-product and attention FLOPs of one micro-batch through the stage: forward, and
// backward (input gradients of every projection, frozen or not; weight gradients of what
// trains: every row, the selected rows, or the adapters).
struct StageFlops {
  double forward = 0, backward = 0;
  double recomputed = 0;  // the blocks' forwards run again in backward under recompute
};
StageFlops stage_flops(const PlanSpec& s, const Local& l, const std::vector<PlanParam>& params,
                       model::LayerRange layers, const StageBackward& sb, bool last) {
  const int64_t stage_layers = layers.last - layers.first;
  const model::LlamaConfig& c = s.config;
  const double B = double(s.micro_batch), T = double(s.seq_len), N = B * T;
  const double r = double(s.lora.rank);
  const FloorBlock& fb = sb.block;
  double matmul = 0, adapters = 0, floor_dx = 0, floor_adapters = 0;
  for (const Matrix& m : block_matrices(c, l)) {
    const std::string t = m.target;
    matmul += double(m.out * m.in);
    // Whether its backward runs at the floor, and computes its input gradient there.
    const bool runs = t == "down" ? fb.down : t == "o" ? fb.o : is_qkv(t) ? fb.qkv : fb.gate_up;
    const bool dx = t == "down" ? fb.gate_up : t == "o" ? fb.o_dx : !is_qkv(t) && fb.gate_up_dx;
    if (dx) floor_dx += double(m.out * m.in);
    if (s.training == PlanTraining::Lora && has_target(s.lora, m.target)) {
      adapters += r * double(m.in + m.out);
      if (runs) floor_adapters += r * double(m.in + m.out);
    }
  }
  // Causal attention: QKᵀ and PV over t + 1 keys for the query at t.
  const double attention = 2.0 * B * double(l.heads) * double(c.head_dim) * T * (T + 1);
  const double block_forward = 2 * N * (matmul + adapters) + attention;
  StageFlops f;
  f.forward =
      double(stage_layers) * block_forward + (last ? 2 * N * double(c.hidden * l.vocab) : 0);
  f.recomputed = double(sb.blocks_run()) * block_forward;
  // Backward: input gradients as forward's products (the head's too), attention twice its
  // forward (dQ, dK, dV with the probabilities rebuilt), LoRA's four products per adapter, and
  // dW = dyᵀ x over the rows that train (all, the selected ones, or none); nothing below the
  // floor, and at it only the input gradients its trained projections need.
  f.backward = double(sb.whole) * (2 * N * matmul + 2 * attention + 4 * N * adapters) +
               (last ? 2 * N * double(c.hidden * l.vocab) : 0);
  if (sb.at_floor)
    f.backward += 2 * N * floor_dx + (fb.o_dx ? 2 * attention : 0) + 4 * N * floor_adapters;
  for (const PlanParam& p : params)
    if (p.gemm && p.grad_numel > 0) f.backward += 2 * N * double(p.grad_numel);
  return f;
}

}  // namespace

NeuronCounts count_neurons(const neuron::NeuronSet& set, const neuron::NeuronSpace& space) {
  NeuronCounts n;
  n.kinds = space.kinds();
  n.count.resize(size_t(space.config().layers));
  for (auto& kinds : n.count)
    for (auto& ranks : kinds) ranks.assign(size_t(space.tp()), 0);
  for (neuron::NeuronId id : set.ids) {
    const neuron::NeuronOwner w = space.owner(id);
    ++n.count[size_t(neuron::id_layer(id))][size_t(neuron::id_kind(id))][size_t(w.tp_rank)];
    ++n.neurons;
    n.params += space.params_of(id);
  }
  return n;
}

NeuronCounts spread_neurons(const neuron::NeuronSpace& space, const neuron::Budget& budget) {
  NEFT_CHECK(space.kinds().list() == std::vector<NeuronKind>{NeuronKind::Ffn},
             "spread_neurons: ffn neurons only");
  neuron::check_budget(space, budget);
  const int64_t per_neuron = space.params_per_neuron(NeuronKind::Ffn);
  int64_t total = 0;
  switch (budget.unit) {
    case neuron::Budget::Unit::Neurons:
      total = int64_t(budget.value);
      break;
    case neuron::Budget::Unit::NeuronFraction:
      total = std::llround(budget.value * double(space.total_neurons()));
      break;
    case neuron::Budget::Unit::ParamFraction:
      total =
          int64_t(std::floor(budget.value * double(space.config().parameter_count()))) / per_neuron;
      break;
    case neuron::Budget::Unit::LoraRank:
      total = space.lora_params(int64_t(budget.value)) / per_neuron;
      break;
  }
  NeuronCounts n;
  n.kinds = space.kinds();
  const int64_t layers = space.config().layers, tp = space.tp();
  n.count.resize(size_t(layers));
  for (int64_t layer = 0; layer < layers; ++layer) {
    const int64_t in_layer = total / layers + (layer < total % layers ? 1 : 0);
    std::vector<int64_t>& ranks = n.count[size_t(layer)][size_t(NeuronKind::Ffn)];
    for (int64_t r = 0; r < tp; ++r) ranks.push_back(in_layer / tp + (r < in_layer % tp ? 1 : 0));
    for (auto& other : n.count[size_t(layer)])
      if (other.empty()) other.assign(size_t(tp), 0);
  }
  n.neurons = total;
  n.params = total * per_neuron;
  return n;
}

PlanSpec plan_spec_of(const TrainOptions& o, int world_size) {
  PlanSpec s;
  s.config = model_config({o.model, o.init, o.num_layers});
  s.tp = int(o.parallelism.tp);
  s.pp = int(o.parallelism.pp);
  if (world_size % (s.tp * s.pp) != 0)
    fail("layout: tp ", s.tp, " x pp ", s.pp, " does not divide ", world_size, " ranks");
  s.dp = world_size / (s.tp * s.pp);
  s.seq_len = o.seq_len;
  s.micro_batch = o.micro_batch;
  s.grad_accum = o.grad_accum;
  s.dtype = o.compute_dtype();
  s.cuda = o.compute_device() == Device::CUDA;
  s.recompute = o.recompute;
  s.distributed_optimizer = o.distributed_optimizer;
  s.sequence_parallel = o.parallelism.sequence_parallel && s.tp > 1;
  if (!o.neurons.empty()) {
    const neuron::NeuronSet set = neuron::load_neuron_set(o.neurons);
    s.training = PlanTraining::Neurons;
    s.neurons = count_neurons(set, neuron::space_of(set, s.config, s.tp, s.pp, o.neurons));
  } else if (o.lora_rank > 0) {
    s.training = PlanTraining::Lora;
    s.lora = {o.lora_rank, o.lora_alpha, lora::parse_targets(o.lora_targets), o.lora_dropout};
  }
  return s;
}

std::vector<RankPlan> plan_ranks(const PlanSpec& s) {
  const model::LlamaConfig& c = s.config;
  c.validate(c.name);
  if (c.tied_embeddings && s.pp > 1)
    fail("pipeline parallelism with tied embeddings (", c.name,
         ") is not supported yet: the embedding and the head live on different stages");
  if (s.training == PlanTraining::Lora) lora::check_config(s.lora, c);
  const Local l = local_dims(c, s.tp);
  const int64_t dt = int64_t(dtype_size(s.dtype)), N = s.micro_batch * s.seq_len;
  const bool sp = s.sequence_parallel && s.tp > 1;
  if (sp && N % s.tp != 0)
    fail("sequence parallelism: micro-batch x seq-len (", s.micro_batch, " x ", s.seq_len,
         " tokens) must divide by tp ", s.tp);
  const int64_t act = N * c.hidden * dt, M = s.grad_accum;
  const bool split = s.distributed_optimizer && s.dp > 1;  // the optimizer's state over dp
  const int64_t region = region_rows(s) * c.hidden * dt;   // what pipeline stages exchange
  std::vector<RankPlan> plans;
  for (int stage = 0; stage < s.pp; ++stage) {
    const model::LayerRange layers = model::stage_layers(c.layers, s.pp, stage);
    const int64_t Ls = layers.last - layers.first;
    const bool first = stage == 0, last = stage == s.pp - 1;
    // The 1F1B schedule runs each micro-batch's forward once, holding at most `slots` of them
    // in flight (train/train_step.cpp).
    const int64_t slots = parallel::max_in_flight(stage, s.pp, int(M));
    const StageBackward sb = stage_backward(s, layers, first, last);
    for (int tp_rank = 0; tp_rank < s.tp; ++tp_rank) {
      RankPlan r;
      r.tp_rank = tp_rank;
      r.pp_stage = stage;
      r.layers = layers;
      r.forwards_per_step = M;
      const std::vector<PlanParam> params = rank_parameters(s, l, tp_rank, layers, first, last);

      // Parameters and training state (optim/adamw.h).
      RankMemory& m = r.memory;
      int64_t indices = 0, picked = 0;
      for (const PlanParam& p : params) {
        m.weights += p.numel * dt;
        if (p.grad_numel < 0) continue;
        r.trained_parameters += p.grad_numel;
        m.gradients += p.grad_numel * 4;
        // The state of the rows this data-parallel rank owns: all of them unless split.
        const optim::StateShape shape = p.state();
        const int64_t state =
            optim::owned_rows(shape.rows, split ? s.dp : 1, split ? s.dp_rank : 0).count *
            shape.row_elems;
        m.moments += state * 8;
        if (p.neuron_level || dt != 4) m.master += state * 4;
        if (p.neuron_level) {
          indices += p.rows * 4;                       // Parameter::neuron_index, i32
          picked = std::max(picked, N * p.rows * dt);  // the selected columns, in backward
        }
      }
      m.activations = activation_bytes(s, l, Ls, last, slots);

      // What lives beside them: the batch each slot's forward read (tokens, targets and
      // positions, their document starts), the default positions and the neuron indices; then,
      // in the pass, the largest transient: selected columns, the vocabulary-parallel loss's
      // per-token statistics, the next micro-batch's tensors while a slot still holds an
      // earlier one's, and on CUDA attention's and the norms' backward buffers.
      const int64_t persistent = (4 * slots + 1) * N * 4 + indices;
      int64_t transient = picked;
      if (last && s.tp > 1) transient = std::max(transient, 5 * N * 4);
      if (M > slots) transient = std::max(transient, 3 * N * 4);
      if (s.cuda)
        transient = std::max({transient, s.micro_batch * l.heads * s.seq_len * 4,
                              std::min<int64_t>(N, 512) * c.hidden * 4});
      // Sequence parallelism's whole-token buffers live within one layer's call; the most at
      // once is a column-parallel layer's backward: its input gathered again and its whole
      // input gradient, with a neuron-level weight's selected columns inside it.
      if (sp) transient = std::max(transient, 2 * act + picked);
      // The pipeline's receive buffers (the slots keep each input); the gradient sync's
      // packed bucket comes after them, once the pipeline's buffers are gone.
      const int64_t pipeline =
          s.pp > 1 ? ((first ? 0 : 1) + (sb.runs && !last ? 1 : 0)) * region : 0;
      const GradSync sync = replay_grad_sync(params, s.dp, split, dt);
      if (pipeline + transient >= sync.flat_bytes) {
        m.comm_buffers = pipeline;
        m.workspace = persistent + transient;
      } else {
        m.comm_buffers = sync.flat_bytes;
        m.workspace = persistent;
        m.peak_phase = "gradient sync";
      }
      m.total = m.weights + m.gradients + m.master + m.moments + m.activations + m.comm_buffers +
                m.workspace;

      // Communication (parallel/mappings.h, model/parallel_linear.cpp, lora/lora_adapter.cpp,
      // model/vocab_parallel_cross_entropy.cpp, train/train_step.cpp, optim/clip.cpp).
      int64_t row_lora = 0, column_lora = 0;  // [N, r] all-reduces per block
      int64_t qkv_lora = 0;                   // q's, k's and v's of column_lora
      if (s.training == PlanTraining::Lora)
        for (const Matrix& mat : block_matrices(c, l))
          if (has_target(s.lora, mat.target)) {
            const int64_t bytes = all_reduce(N * s.lora.rank * dt, s.tp);
            (mat.row_parallel ? row_lora : column_lora) += bytes;
            if (is_qkv(mat.target)) qkv_lora += bytes;
          }
      // Without sequence parallelism each sum of [N, hidden] partials is an all-reduce; with
      // it, an all-gather or a reduce-scatter (half the bytes each) of the same tensor.
      const int64_t sum = sp ? ring(act, 1, s.tp) : all_reduce(act, s.tp);
      const int64_t gather = sp ? ring(act, 1, s.tp) : 0;  // what sequence parallelism adds
      const bool full = s.training == PlanTraining::Full;
      // o's and down's sums, and under sequence parallelism q/k/v's and gate/up's gathers.
      const int64_t block_forward = 2 * sum + 2 * gather + row_lora;
      // q/k/v's and gate/up's input gradients, and under sequence parallelism their inputs
      // gathered again and o's and down's output gradients gathered.
      const int64_t block_backward = 2 * sum + 4 * gather + column_lora;
      // The floor's block: the layers whose backward runs gather, the gate/up input gradient
      // is summed only when attention's backward needs it, q/k/v's never.
      const FloorBlock& fb = sb.block;
      const int64_t floor_backward =
          (int64_t(fb.down) + int64_t(fb.gate_up) + int64_t(fb.o) + int64_t(fb.qkv)) * gather +
          (fb.gate_up_dx ? sum : 0) + (fb.gate_up ? column_lora - qkv_lora : 0) +
          (fb.qkv ? qkv_lora : 0);
      // The last stage gathers the final norm's output for the head (under sequence
      // parallelism) and sums the loss's maxima, sums and targets.
      const int64_t head = gather + 3 * all_reduce(N * 4, s.tp);
      const int64_t forward = (first ? sum : 0)  // the embedding's sum
                              + Ls * block_forward + (last ? head : 0);
      const int64_t backward = (last ? sum : 0)                // the head's input gradient
                               + (first && full ? gather : 0)  // the embedding's, gathered
                               + sb.whole * block_backward + (sb.at_floor ? floor_backward : 0) +
                               (s.recompute ? sb.blocks_run() * block_forward : 0);
      // Under sequence parallelism, each trained norm's gradient summed once a step.
      const int64_t norms =
          sp && full ? (2 * Ls + (last ? 1 : 0)) * all_reduce(c.hidden * 4, s.tp) : 0;
      r.tp_bytes_per_step =
          M * forward + M * backward + norms + all_reduce(4, s.tp);  // + the gradient norm's sum
      r.dp_bytes_per_step = s.dp > 1 ? 2 * all_reduce(8, s.dp)       // counted and real tokens
                                           + sync.bytes + all_reduce(4, s.dp)   // the loss
                                           + (split ? all_reduce(4, s.dp) : 0)  // the norm's
                                                                                // owned rows
                                     : 0;
      // Each micro-batch's output and input gradient (this rank's tokens under sequence
      // parallelism), the loss and the gradient norm.
      if (s.pp > 1)
        r.pp_bytes_per_step =
            (last ? 0 : M * region) + (sb.gives ? M * region : 0) + 2 * all_reduce(4, s.pp);
      const StageFlops f = stage_flops(s, l, params, layers, sb, last);
      r.flops_per_step = double(M) * f.forward + double(M) * f.backward +
                         (s.recompute ? double(M) * f.recomputed : 0);
      plans.push_back(r);
    }
  }
  return plans;
}

size_t most_loaded(const std::vector<RankPlan>& ranks) {
  size_t best = 0;
  for (size_t i = 1; i < ranks.size(); ++i)
    if (ranks[i].memory.total > ranks[best].memory.total) best = i;
  return best;
}

}  // namespace neft::train
