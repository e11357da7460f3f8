// The neuron space of a Llama model: every neuron's global id, which rank owns it under a
// tensor/pipeline layout, and the parameters a set of neurons holds.
//
// A neuron is a set of `hidden`-long weight vectors that live on one tensor-parallel rank
// (DESIGN.md §2), of one of three kinds:
//   ffn: intermediate unit j of a layer's MLP: row j of up_proj and column j of down_proj,
//        and row j of gate_proj when the gate joins (NeuronKinds::ffn_gate; off by default,
//        as in the NeFT paper);
//   qo:  attention output unit i (i < heads * head_dim): row i of q_proj, column i of o_proj;
//   kv:  key/value unit i (i < kv_heads * head_dim): row i of k_proj and row i of v_proj.
// Column-parallel q/k/v/gate/up and row-parallel o/down split exactly these indices, so unit
// i of a kind sits on TP rank i / (units / tp) as local index i % (units / tp), and its
// layer on the pipeline stage whose layers contain it (model::stage_layers).
//
// Global id: (layer << 34) | (kind << 32) | index — the same id at every layout, which is
// what lets scores, selections and training state move between layouts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace neft::neuron {

enum class NeuronKind : int { Ffn = 0, QO = 1, KV = 2 };
constexpr int kNeuronKinds = 3;
const char* kind_name(NeuronKind k);  // "ffn", "qo", "kv"

// Which kinds a run scores and trains.
struct NeuronKinds {
  bool ffn = true, qo = false, kv = false;
  bool ffn_gate = false;  // gate_proj's row joins each ffn unit

  // "ffn", "ffn,qo,kv", "all"; a one-line error naming an unknown kind or an empty list.
  static NeuronKinds parse(const std::string& list, bool ffn_gate = false);
  std::string str() const;  // "ffn,qo" (as parse takes it; "+gate" is not part of it)
  bool has(NeuronKind k) const;
  std::vector<NeuronKind> list() const;
};

using NeuronId = int64_t;
NeuronId make_id(int64_t layer, NeuronKind kind, int64_t index);
int64_t id_layer(NeuronId id);
NeuronKind id_kind(NeuronId id);
int64_t id_index(NeuronId id);
std::string id_str(NeuronId id);  // "layer 3 ffn 17"

// One weight matrix a neuron kind touches: its HF name within the layer and whether the
// neuron is a row (axis 0) or a column (axis 1) of it.
struct NeuronMatrix {
  const char* name;  // e.g. "mlp.up_proj.weight"
  int axis;
};

// The matrices a neuron of kind k spans (gate_proj's row joins an ffn neuron with ffn_gate),
// and how many neurons of the kind a layer of `config` has: every piece of code that maps
// neurons to weights asks these two.
std::vector<NeuronMatrix> neuron_matrices(NeuronKind k, bool ffn_gate);
int64_t neuron_units(const model::LlamaConfig& config, NeuronKind k);
// "model.layers.<layer>.<matrix>": the HF name of a neuron matrix of a layer.
std::string parameter_name(int64_t layer, const NeuronMatrix& m);

// Where a neuron lives.
struct NeuronOwner {
  int tp_rank = 0, pp_stage = 0;
  int64_t local_index = 0;  // its row/column in that rank's shard
};

class NeuronSpace {
 public:
  // Fails (one line) when tp does not divide a kind's units or pp exceeds the layers.
  NeuronSpace(const model::LlamaConfig& config, NeuronKinds kinds, int tp = 1, int pp = 1);

  const model::LlamaConfig& config() const { return config_; }
  const NeuronKinds& kinds() const { return kinds_; }
  int tp() const { return tp_; }
  int pp() const { return pp_; }

  int64_t units(NeuronKind k) const;  // per layer (whole model)
  std::vector<NeuronMatrix> matrices(NeuronKind k) const;
  int64_t params_per_neuron(NeuronKind k) const;  // vectors x hidden
  int64_t params_of(NeuronId id) const { return params_per_neuron(id_kind(id)); }

  int64_t total_neurons() const;  // over the enabled kinds and every layer
  int64_t total_params() const;   // the parameters of all those neurons

  // True when `id` names a neuron of this space (layer, enabled kind, index in range).
  bool contains(NeuronId id) const;
  NeuronOwner owner(NeuronId id) const;
  // Every neuron owned by (tp_rank, pp_stage), ascending by id.
  std::vector<NeuronId> owned(int tp_rank, int pp_stage) const;
  // The global id of local index `local` of kind k in `layer` on TP rank tp_rank.
  NeuronId global_id(int64_t layer, NeuronKind k, int tp_rank, int64_t local) const;

  int64_t params_of(const std::vector<NeuronId>& ids) const;
  // LoRA of rank r on every matrix the enabled kinds touch: r * (in + out) each, per layer.
  int64_t lora_params(int64_t rank) const;

 private:
  model::LlamaConfig config_;
  NeuronKinds kinds_;
  int tp_, pp_;
};

}  // namespace neft::neuron
