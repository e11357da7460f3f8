// The Llama model on one rank: embedding, `layers` decoder blocks (RMSNorm, attention with
// GQA and RoPE, RMSNorm, SwiGLU MLP, each with a residual), a final RMSNorm and the LM head
// (tied to the embedding or not), and the token-level cross-entropy over the positions whose
// target is not kIgnoreIndex. Forward and backward are explicit (no autograd tape), as in
// llm.c: every layer writes its activations into buffers it keeps for the backward pass,
// or, with recompute on, keeps only each block's input and runs the block again in backward;
// one set per activation slot (model/stage_activations.h), for micro-batches in flight.
//
// Numerics: values and activations in the model dtype (f32 on CPU; bf16 on CUDA), weight
// gradients f32 and accumulated (+=), so micro-batches accumulate by calling
// forward/backward again before the optimizer step. Loss statistics are f32.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/kv_cache.h"
#include "model/micro_batch_key.h"
#include "model/tensor_parallel.h"
#include "model/token_layout.h"
#include "model/unit_hooks.h"
#include "runtime/parameter.h"
#include "runtime/tensor.h"

namespace neft::model {

constexpr int32_t kIgnoreIndex = -100;

struct ModelOptions {
  Device device = Device::CPU;
  DType dtype = DType::F32;  // parameter and activation dtype; bf16 is for CUDA
  bool recompute = false;    // activation checkpointing, per block
  TensorParallel tp;         // this rank's shard; the default is the whole model
  // Pipeline parallelism: this rank runs stage `pp_stage` of `pp_stages`, a contiguous range
  // of layers (stage_layers); the first stage also embeds, the last one also holds the
  // final norm, the head and the loss.
  int pp_stage = 0, pp_stages = 1;
  // Backward skips the work nothing trains needs: the blocks below the lowest layer that
  // trains anything, and in that block the input gradient and whatever only it needs
  // (LlamaModel::backward_floor). Off: the whole backward runs (for tests comparing the two).
  bool skip_frozen_backward = true;
};

// Layers [first, last) of stage `stage`: an even split, the first stages taking one more
// layer when `stages` does not divide `layers`. Fails when there are more stages than layers.
struct LayerRange {
  int64_t first = 0, last = 0;
};
LayerRange stage_layers(int64_t layers, int stages, int stage);

struct LossSums {
  double loss_sum = 0.0;  // sum of the per-token losses over counted positions
  int64_t tokens = 0;     // counted positions (target != kIgnoreIndex)
};

class Block;
struct BlockActivations;
struct StageActivations;
struct DecodeBuffers;
struct BlockScratch;

class LlamaModel {
 public:
  LlamaModel(const LlamaConfig& config, const ModelOptions& options = {});
  ~LlamaModel();
  LlamaModel(const LlamaModel&) = delete;
  LlamaModel& operator=(const LlamaModel&) = delete;

  const LlamaConfig& config() const { return config_; }
  const ModelOptions& options() const { return options_; }

  // Every parameter, in HF order and with HF names (the tied head is not listed twice), each
  // block's adapters' (model/linear_adapter.h) after its own.
  ParameterList parameters();
  // The parameters that sequence parallelism runs on this rank's tokens only: the norms' weights
  // (replicated over the tensor-parallel group), this stage's.
  ParameterList sequence_parallel_parameters();
  // The model's own weights alone, what an HF checkpoint holds (no adapter).
  ParameterList hf_parameters();
  Parameter& parameter(const std::string& name);  // fails naming an unknown name
  // HF's initialisation: linear and embedding weights ~ N(0, std), norm weights 1.
  void init_random(uint64_t seed, float std = 0.02f);
  // Gives every parameter an f32 gradient of zeros (allocating it on first use).
  void zero_grad();

  // tokens, targets: [B, T] i32 on the model's device (targets kIgnoreIndex where no loss);
  // positions [B, T] i32 or undefined for 0..T-1 in every row. Where positions restart (or
  // break the count by one) a new document begins, and attention stays within documents
  // (ops/document_starts.h: the convention of transformers' packed sequences). Keeps what
  // backward needs.
  // A pipeline stage other than the first takes the previous stage's output as `input`
  // [residual_rows(B*T), hidden]; a stage other than the last leaves its output in output() and
  // returns zero sums (only the last stage has the loss).
  LossSums forward(const Tensor& tokens, const Tensor& targets, const Tensor& positions = {},
                   const Tensor& input = {});
  // The gradient of (loss_scale * sum of the counted per-token losses) of the last forward,
  // accumulated into every parameter's grad. loss_scale is 1 / (counted tokens of the whole
  // step) so that micro-batches add up to the mean. A stage other than the last takes the
  // gradient of its output from the next stage as `doutput` (none, and it does nothing, when
  // !runs_backward()); one that gives_input_grad() leaves the gradient of its input in
  // input_grad(). Trained parameters get the same gradients whatever backward_floor() skips.
  void backward(float loss_scale, const Tensor& doutput = {});
  // When the backward passes since zero_grad split their tokens (sequence parallelism), each
  // norm's weight gradient holds this rank's tokens' part: sums them over the tensor-parallel
  // group (as Megatron-LM all-reduces its layernorms' gradients), after which they are whole
  // and alike on every rank, as without it. Call once after a step's backward passes (before
  // the data-parallel sum and the gradient norm); otherwise it does nothing.
  void sum_sequence_parallel_grads();

  bool first_stage() const { return options_.pp_stage == 0; }
  bool last_stage() const { return options_.pp_stage == options_.pp_stages - 1; }
  // [rows, hidden], rows = residual_rows(B*T): what pipeline stages pass on (the current
  // activation slot's).
  const Tensor& output() const;
  const Tensor& input_grad() const { return dresidual_; }
  // Rows of the [N, hidden] hidden states between blocks that a pass of N tokens holds on this
  // rank: N, or N / tp when sequence parallelism splits them (model/tensor_parallel.h; asked
  // for in options().tp, and N divides by tp).
  int64_t residual_rows(int64_t N) const;

  // The last forward's logits, [B*T, vocab] (this rank's vocabulary range under tensor
  // parallelism), in the model dtype.
  const Tensor& logits() const;
  // The last forward's final hidden states, [B*T, hidden] (the final norm's output, what the
  // head reads), on the last stage; whole on every tensor-parallel rank.
  const Tensor& final_hidden() const;
  // The last forward's per-token losses, [B*T] f32 (0 where the target is ignored), on the
  // last stage; whole on every tensor-parallel rank.
  const Tensor& token_losses() const;
  // Generation with a KV cache (kv_cache.h). make_cache: one for B rows of up to `capacity`
  // tokens, on this rank's device and kv heads; fails on a pipeline stage (generation runs
  // whole models, split over tensor parallelism only) or beyond max_position_embeddings.
  KvCache make_cache(int64_t B, int64_t capacity) const;
  // The next T columns of every row: tokens and positions [B, T] i32 (positions count from 0
  // at each row's key_start). Appends their keys and values to the cache and returns the
  // logits of each row's last column, [B, V_local] (this rank's vocabulary range). Keeps
  // nothing for backward.
  const Tensor& decode(const Tensor& tokens, const Tensor& positions, KvCache& cache);

  // Bytes held in activation buffers, every slot's (for memory reports).
  size_t activation_bytes() const;

  // The activation slot (model/stage_activations.h) the next forwards fill and the next
  // backwards read: 0, the default, or another for a micro-batch that stays in flight while
  // others run (a pipeline stage's 1F1B schedule keeps one per micro-batch in flight). A slot
  // is allocated on its first forward and kept; its forward's micro-batch key goes with it, so
  // backward draws the masks its forward drew. Slots share one shape: the gradient scratch and
  // the head's buffers are the model's, for whichever slot backward reads.
  void use_activation_slot(size_t slot);
  const size_t& activation_slot() const { return slot_; }  // adapters point at it

  // The micro-batch the next forwards train on (model/micro_batch_key.h); none, the default,
  // for passes that do not train. The trainer's step sets it; adapters that draw masks hold a
  // pointer to it (it lives as long as the model).
  void set_micro_batch_key(std::optional<MicroBatchKey> key) { micro_batch_key_ = key; }
  const std::optional<MicroBatchKey>& micro_batch_key() const { return micro_batch_key_; }

  // Hooks on every block's unit outputs (model/unit_hooks.h; null: none); not owned, and
  // must outlive their use.
  void set_unit_hooks(UnitHooks* hooks);
  // The lowest layer whose block trains anything on this rank (Block::trains_anything): -1
  // when the embedding trains (and with it a tied head), config().layers when no block does.
  int64_t lowest_trained_layer();
  // The lowest layer that trains anything over the whole model, every rank's minimum of
  // lowest_trained_layer(), which tensor- and pipeline-parallel ranks must agree on because
  // the input gradients it spares are summed over the tensor-parallel group and sent between
  // stages (train/backward_floor.h). Trainability changes clear it (neuron/trainable.h).
  void set_agreed_floor(std::optional<int64_t> layer) { agreed_floor_ = layer; }
  // Where backward stops: blocks below this layer run no backward and the block at it none
  // for its input. -1 (the whole backward) when skip_frozen_backward is off, when hooks want
  // backward, or under tensor or pipeline parallelism without an agreed floor; on one rank
  // of each group, lowest_trained_layer(); else the agreed floor.
  int64_t backward_floor();
  // Whether this stage runs a backward at all (the last stage's head always does), and
  // whether it leaves the gradient of its input for the previous stage (pipeline schedule).
  bool runs_backward() { return last_stage() || backward_floor() < layers().last; }
  bool gives_input_grad() { return !first_stage() && backward_floor() < first_layer_; }
  // The layers of this pipeline stage, and one of them (fails naming a layer not on it).
  LayerRange layers() const;
  Block& block(int64_t layer);

 private:
  ParameterList parameters(bool with_adapters);
  bool splits_tokens(int64_t N) const;
  void ensure_buffers(int64_t B, int64_t T);
  void ensure_slot_buffers(StageActivations& s, int64_t B, int64_t T);
  StageActivations& slot() { return *slots_[slot_]; }
  const StageActivations& slot() const { return *slots_[slot_]; }
  void backward_head(float loss_scale, const StageActivations& s);
  BlockActivations& block_activations(StageActivations& s, size_t layer);

  LlamaConfig config_;
  ModelOptions options_;
  Parameter embed_, final_norm_, head_;  // head_ unused when tied
  std::vector<std::unique_ptr<Block>> blocks_;

  const Parameter& head() const { return config_.tied_embeddings ? embed_ : head_; }
  Parameter& head() { return config_.tied_embeddings ? embed_ : head_; }

  int64_t first_layer_ = 0;   // of this pipeline stage
  int64_t vocab_start_ = 0;   // first vocabulary id of this rank's embedding / head rows
  int64_t B_ = 0, T_ = 0;     // the shape of the shared buffers below
  Tensor default_positions_;  // [N]: 0..T-1 in every row
  // What each forward keeps for its backward, per slot (at least one: slot 0).
  std::vector<std::unique_ptr<StageActivations>> slots_;
  size_t slot_ = 0;
  // With recompute, the one set of block activations every slot's backward refills.
  std::unique_ptr<BlockActivations> recomputed_;
  std::unique_ptr<BlockScratch> scratch_;
  Tensor recompute_out_;  // [N, C]: the discarded output of a recomputed block
  Tensor dresidual_, dnormed_, dlogits_, dlosses_;
  // Whether the backward passes since zero_grad split their tokens, or kept them whole.
  bool grads_split_ = false, grads_whole_ = false;
  std::unique_ptr<DecodeBuffers> decode_;  // decode()'s, for its last [B, T]
  std::optional<MicroBatchKey> micro_batch_key_;
  UnitHooks* hooks_ = nullptr;
  std::optional<int64_t> agreed_floor_;
};

}  // namespace neft::model
