#include "model/llama.h"

#include "model/block.h"
#include "model/decode_buffers.h"
#include "model/linear.h"
#include "model/shard.h"
#include "model/stage_activations.h"
#include "model/vocab_parallel_cross_entropy.h"
#include "parallel/mappings.h"
#include "runtime/ops/cross_entropy.h"
#include "runtime/ops/document_starts.h"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/embedding.h"
#include "runtime/ops/rmsnorm.h"

namespace neft::model {

LayerRange stage_layers(int64_t layers, int stages, int stage) {
  if (stages < 1 || stages > layers)
    fail("pipeline parallelism: pp ", stages, " stages for ", layers,
         " layers (each stage needs at least one layer)");
  const int64_t base = layers / stages, extra = layers % stages;
  const int64_t first = stage * base + std::min<int64_t>(stage, extra);
  return {first, first + base + (stage < extra ? 1 : 0)};
}

LlamaModel::LlamaModel(const LlamaConfig& config, const ModelOptions& options)
    : config_(config), options_(options) {
  config_.validate(config_.name);
  if (options_.device == Device::CPU && options_.dtype != DType::F32)
    fail("model: the CPU backend runs in f32, not ", dtype_name(options_.dtype));
  const Device d = options_.device;
  const DType t = options_.dtype;
  const LlamaConfig& c = config_;
  const TensorParallel& tp = options_.tp;
  // Vocabulary-parallel embedding and head: this rank's rows of the vocabulary.
  const int64_t vocab_local = tp.local(c.vocab, "vocab_size");
  vocab_start_ = tp.rank * vocab_local;
  auto vocab_rows = [&](const char* name) {
    Parameter p{name, Tensor::empty({vocab_local, c.hidden}, t, d), {}, true};
    p.shard_dim = tp.size > 1 ? 0 : -1;
    p.shard_offset = tp.size > 1 ? vocab_start_ : 0;
    p.full_shape = {c.vocab, c.hidden};
    return p;
  };
  if (c.tied_embeddings && options_.pp_stages > 1)
    fail("pipeline parallelism with tied embeddings (", c.name,
         ") is not supported yet: the embedding and the head live on different stages");
  const LayerRange layers = stage_layers(c.layers, options_.pp_stages, options_.pp_stage);
  first_layer_ = layers.first;
  slots_.push_back(std::make_unique<StageActivations>());
  if (first_stage()) embed_ = vocab_rows("model.embed_tokens.weight");
  for (int64_t l = layers.first; l < layers.last; ++l)
    blocks_.push_back(std::make_unique<Block>(config_, l, options_));
  if (last_stage()) {
    final_norm_ = {"model.norm.weight", Tensor::empty({c.hidden}, t, d), {}, false};
    final_norm_.full_shape = {c.hidden};
    if (!c.tied_embeddings) head_ = vocab_rows("lm_head.weight");
  }
}

LlamaModel::~LlamaModel() = default;

ParameterList LlamaModel::parameters() { return parameters(true); }

ParameterList LlamaModel::hf_parameters() { return parameters(false); }

ParameterList LlamaModel::parameters(bool with_adapters) {
  ParameterList all;
  if (first_stage()) all.push_back(&embed_);
  for (auto& b : blocks_) {
    for (Parameter* p : b->parameters()) all.push_back(p);
    if (with_adapters)
      for (Parameter* p : b->adapter_parameters()) all.push_back(p);
  }
  if (last_stage()) {
    all.push_back(&final_norm_);
    if (!config_.tied_embeddings) all.push_back(&head_);
  }
  return all;
}

Parameter& LlamaModel::parameter(const std::string& name) {
  for (Parameter* p : parameters())
    if (p->name == name) return *p;
  fail("model ", config_.name, ": no parameter named '", name, "'");
}

void LlamaModel::init_random(uint64_t seed, float std) {
  // Each parameter draws from its own Philox stream, numbered by its place in the whole
  // model's HF order, and element i of the whole HF tensor gets draw i: the same values on
  // any device and any layout (a tensor-parallel shard draws the whole tensor and keeps its
  // part; a pipeline stage numbers its layers' parameters as the whole model does).
  auto init = [&](Parameter& p, uint64_t stream) {
    if (p.value.dim() == 1) {
      ops::fill(p.value, 1.0f);
    } else if (p.shard_dim < 0) {
      ops::fill_normal(p.value, seed, stream << 40, 0.0f, std);
    } else {
      Tensor full = Tensor::empty(p.full_shape, p.value.dtype(), p.value.device());
      ops::fill_normal(full, seed, stream << 40, 0.0f, std);
      copy_shard(full, p);
    }
  };
  const uint64_t per_layer = Block::kParameters, layers = uint64_t(config_.layers);
  if (first_stage()) init(embed_, 0);
  for (size_t b = 0; b < blocks_.size(); ++b) {
    const ParameterList block = blocks_[b]->parameters();
    for (size_t j = 0; j < block.size(); ++j)
      init(*block[j], 1 + (uint64_t(first_layer_) + b) * per_layer + j);
  }
  if (last_stage()) {
    init(final_norm_, 1 + layers * per_layer);
    if (!config_.tied_embeddings) init(head_, 2 + layers * per_layer);
  }
}

void LlamaModel::zero_grad() {
  grads_split_ = grads_whole_ = false;
  for (Parameter* p : parameters()) {
    if (!p->trainable)
      p->grad = Tensor();
    else if (!p->grad.defined() || p->grad.shape() != p->grad_shape())
      p->grad = Tensor::zeros(p->grad_shape(), DType::F32, p->value.device());
    else
      p->grad.zero_();
  }
}

void LlamaModel::ensure_buffers(int64_t B, int64_t T) {
  if (B == B_ && T == T_) return;
  const LlamaConfig& c = config_;
  const Device d = options_.device;
  const DType t = options_.dtype;
  const int64_t N = B * T;
  B_ = B;
  T_ = T;
  std::vector<int32_t> pos(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) pos[size_t(i)] = int32_t(i % T);
  default_positions_ = Tensor::from_ints(pos, {N}, d);

  const TensorParallel& tp = options_.tp;
  const int64_t Nl = tp.tokens(N);  // the residual stream's rows on this rank
  recomputed_.reset();
  if (options_.recompute) {
    recomputed_ = std::make_unique<BlockActivations>();
    recomputed_->allocate(c, tp, B, T, d, t);
  }
  scratch_ = std::make_unique<BlockScratch>();
  scratch_->allocate(c, tp, B, T, d, t);
  recompute_out_ = options_.recompute ? Tensor::empty({Nl, c.hidden}, t, d) : Tensor();
  dresidual_ = Tensor::empty({Nl, c.hidden}, t, d);
  if (!last_stage()) return;
  const int64_t V = head().value.size(0);  // this rank's vocabulary
  dlosses_ = Tensor::empty({N}, DType::F32, d);
  dlogits_ = Tensor::empty({N, V}, t, d);
  dnormed_ = Tensor::empty({N, c.hidden}, t, d);
}

void LlamaModel::ensure_slot_buffers(StageActivations& s, int64_t B, int64_t T) {
  if (B == s.B && T == s.T) return;
  const LlamaConfig& c = config_;
  const Device d = options_.device;
  const DType t = options_.dtype;
  s.B = B;
  s.T = T;
  const int64_t Nl = options_.tp.tokens(B * T);
  const int64_t layers = int64_t(blocks_.size());  // this stage's
  s.block_inputs.clear();
  for (int64_t l = 0; l <= layers; ++l)
    s.block_inputs.push_back(Tensor::empty({Nl, c.hidden}, t, d));
  s.blocks.clear();
  if (!options_.recompute)  // else backward refills recomputed_ from each block's input
    for (int64_t l = 0; l < layers; ++l) {
      s.blocks.push_back(std::make_unique<BlockActivations>());
      s.blocks.back()->allocate(c, options_.tp, B, T, d, t);
    }
  if (!last_stage()) return;
  const int64_t N = B * T;
  s.final_normed = Tensor::empty({N, c.hidden}, t, d);  // the head's input: every token
  s.final_rstd = Tensor::empty({Nl}, DType::F32, d);
  s.logits = Tensor::empty({N, head().value.size(0)}, t, d);  // this rank's vocabulary
  s.losses = Tensor::empty({N}, DType::F32, d);
  s.lse = Tensor::empty({N}, DType::F32, d);
}

void LlamaModel::use_activation_slot(size_t slot) {
  while (slots_.size() <= slot) slots_.push_back(std::make_unique<StageActivations>());
  slot_ = slot;
}

const Tensor& LlamaModel::output() const { return slot().block_inputs.back(); }
const Tensor& LlamaModel::logits() const { return slot().logits; }
const Tensor& LlamaModel::final_hidden() const { return slot().final_normed; }
const Tensor& LlamaModel::token_losses() const { return slot().losses; }

LossSums LlamaModel::forward(const Tensor& tokens, const Tensor& targets, const Tensor& positions,
                             const Tensor& input) {
  NEFT_CHECK(tokens.dim() == 2, "model forward: tokens must be [B, T], got ", tokens.str());
  const int64_t B = tokens.size(0), T = tokens.size(1), N = B * T;
  if (T > config_.max_positions)
    fail("model forward: sequence length ", T, " exceeds max_position_embeddings ",
         config_.max_positions, " of ", config_.name);
  NEFT_CHECK(targets.defined() && targets.shape() == tokens.shape(),
             "model forward: targets must be ", tokens.str(), ", got ", targets.str());
  options_.tp.split_tokens = splits_tokens(N);
  ensure_buffers(B, T);
  StageActivations& s = slot();
  ensure_slot_buffers(s, B, T);
  s.key = micro_batch_key_;
  s.tokens = tokens.view({N});
  s.targets = targets.view({N});
  TokenLayout& layout = s.layout;
  layout.B = B;
  layout.T = T;
  layout.positions = positions.defined() ? positions.view({N}) : default_positions_;
  layout.doc_start = Tensor();
  if (positions.defined()) {
    NEFT_CHECK(positions.shape() == tokens.shape(), "model forward: positions must be ",
               tokens.str(), ", got ", positions.str());
    layout.doc_start = Tensor::empty({B, T}, DType::I32, positions.device());
    ops::document_starts(positions, layout.doc_start);
  }
  std::vector<Tensor>& inputs = s.block_inputs;

  const TensorParallel& tp = options_.tp;
  if (first_stage()) {
    Tensor embedded = tp.whole_tokens(inputs[0]);
    ops::embedding_forward(s.tokens, embed_.value, vocab_start_, embedded);
    tp.row_output(embedded, inputs[0]);  // each rank embedded its vocabulary's tokens
  } else {
    NEFT_CHECK(input.defined(), "model forward: pipeline stage ", options_.pp_stage,
               " needs the previous stage's output");
    inputs[0].copy_from(input);
  }
  for (size_t l = 0; l < blocks_.size(); ++l)
    blocks_[l]->forward(inputs[l], layout, block_activations(s, l), inputs[l + 1]);
  if (!last_stage()) return {};
  // The final norm on this rank's tokens, then every token's for the vocabulary-parallel head.
  Tensor normed = tp.token_shard(s.final_normed);
  ops::rmsnorm_forward(inputs.back(), final_norm_.value, config_.rms_eps, normed, s.final_rstd);
  if (tp.split_tokens) parallel::gather_from_sp_forward(normed, s.final_normed, *tp.comm);
  linear_forward(s.final_normed, head(), s.logits);
  if (options_.tp.size == 1)
    ops::cross_entropy_forward(s.logits, s.targets, kIgnoreIndex, s.losses, s.lse);
  else
    vocab_parallel_cross_entropy(s.logits, s.targets, vocab_start_, options_.tp, s.losses, s.lse);

  // Summed on the host in token order: the same total on every run (bitwise determinism).
  const std::vector<float> losses = s.losses.to_floats();
  const std::vector<int32_t> tgt = s.targets.to_ints();
  LossSums sums;
  for (size_t i = 0; i < losses.size(); ++i) {
    if (tgt[i] == kIgnoreIndex) continue;
    sums.loss_sum += double(losses[i]);
    ++sums.tokens;
  }
  return sums;
}

BlockActivations& LlamaModel::block_activations(StageActivations& s, size_t l) {
  return options_.recompute ? *recomputed_ : *s.blocks[l];
}

void LlamaModel::backward(float loss_scale, const Tensor& doutput) {
  StageActivations& s = slot();
  NEFT_CHECK(s.tokens.defined(), "model backward: no forward pass to differentiate");
  NEFT_CHECK(s.B == B_ && s.T == T_, "model backward: activation slot ", slot_, " holds a ", s.B,
             " x ", s.T, " forward, the shared buffers ", B_, " x ", T_);
  // The masks backward draws again are those of the micro-batch it differentiates, whatever
  // micro-batch the caller has set since (a pipeline stage runs other forwards in between).
  struct KeyScope {
    std::optional<MicroBatchKey>& key;
    const std::optional<MicroBatchKey> saved;
    ~KeyScope() { key = saved; }
  } key_scope{micro_batch_key_, micro_batch_key_};
  micro_batch_key_ = s.key;
  (options_.tp.split_tokens ? grads_split_ : grads_whole_) = true;
  if (!runs_backward()) return;  // nothing on this stage or before it trains
  const int64_t floor = backward_floor();
  if (!last_stage()) {
    NEFT_CHECK(doutput.defined(), "model backward: pipeline stage ", options_.pp_stage,
               " needs the gradient of its output from the next stage");
    dresidual_.copy_from(doutput);
  } else {
    backward_head(loss_scale, s);
  }
  for (size_t l = blocks_.size(); l-- > 0;) {
    const int64_t layer = first_layer_ + int64_t(l);
    if (layer < floor) break;
    BlockActivations& a = block_activations(s, l);
    if (options_.recompute) blocks_[l]->forward(s.block_inputs[l], s.layout, a, recompute_out_);
    blocks_[l]->backward(s.block_inputs[l], s.layout, a, *scratch_, dresidual_, layer > floor);
  }
  if (first_stage() && embed_.grad.defined())  // every token's gradient reaches the embedding
    ops::embedding_backward(options_.tp.row_output_grad(dresidual_), s.tokens, vocab_start_,
                            embed_.grad);
}

// The loss, the head and the final norm: dresidual_ = the gradient of the last block's output.
void LlamaModel::backward_head(float loss_scale, const StageActivations& s) {
  ops::fill(dlosses_, loss_scale);  // ignored positions get no gradient from the op
  ops::cross_entropy_backward(dlosses_, s.logits, s.targets, s.lse, vocab_start_, kIgnoreIndex,
                              dlogits_);
  linear_backward(dlogits_, s.final_normed, head(), &dnormed_, false);
  // The head is column-parallel over the vocabulary: every rank's part of the gradient adds up
  // (this rank's tokens of it when they are split).
  Tensor dnormed = options_.tp.token_shard(dnormed_);
  options_.tp.column_input_grad(dnormed_, dnormed);
  ops::rmsnorm_backward(dnormed, s.block_inputs.back(), final_norm_.value, s.final_rstd, dresidual_,
                        scratch_->norm_grad(final_norm_));
}

bool LlamaModel::splits_tokens(int64_t N) const {
  const TensorParallel& tp = options_.tp;
  return tp.sequence_parallel && tp.size > 1 && N % tp.size == 0;
}

int64_t LlamaModel::residual_rows(int64_t N) const {
  return splits_tokens(N) ? N / options_.tp.size : N;
}

void LlamaModel::sum_sequence_parallel_grads() {
  NEFT_CHECK(!(grads_split_ && grads_whole_),
             "model: a step's backward passes split their tokens and did not, both");
  if (grads_split_)
    for (Parameter* p : sequence_parallel_parameters())
      if (p->grad.defined()) options_.tp.comm->all_reduce(p->grad);
  grads_split_ = grads_whole_ = false;
}

ParameterList LlamaModel::sequence_parallel_parameters() {
  ParameterList norms;
  for (auto& b : blocks_)
    for (Parameter* p : b->norm_parameters()) norms.push_back(p);
  if (last_stage()) norms.push_back(&final_norm_);
  return norms;
}

void LlamaModel::set_unit_hooks(UnitHooks* hooks) {
  hooks_ = hooks;
  for (auto& b : blocks_) b->set_unit_hooks(hooks);
}

int64_t LlamaModel::lowest_trained_layer() {
  if (first_stage() && embed_.trainable) return -1;
  for (size_t l = 0; l < blocks_.size(); ++l)
    if (blocks_[l]->trains_anything()) return first_layer_ + int64_t(l);
  return config_.layers;
}

int64_t LlamaModel::backward_floor() {
  if (!options_.skip_frozen_backward || (hooks_ && hooks_->wants_backward())) return -1;
  if (options_.tp.size == 1 && options_.pp_stages == 1) return lowest_trained_layer();
  if (!agreed_floor_) return -1;
  NEFT_CHECK(lowest_trained_layer() >= *agreed_floor_, "model backward: layer ",
             lowest_trained_layer(), " trains below the agreed backward floor ", *agreed_floor_,
             " (trainability changed without agreeing it again)");
  return *agreed_floor_;
}

LayerRange LlamaModel::layers() const {
  return {first_layer_, first_layer_ + int64_t(blocks_.size())};
}

Block& LlamaModel::block(int64_t layer) {
  const LayerRange r = layers();
  if (layer < r.first || layer >= r.last)
    fail("model: layer ", layer, " is not on pipeline stage ", options_.pp_stage, " (layers ",
         r.first, " to ", r.last - 1, ")");
  return *blocks_[size_t(layer - r.first)];
}

size_t LlamaModel::activation_bytes() const {
  size_t total = scratch_ ? scratch_->bytes() : 0;
  if (recomputed_) total += recomputed_->bytes();
  for (const auto& s : slots_) total += s->bytes();
  for (const Tensor* t : {&dresidual_, &dnormed_, &dlogits_, &dlosses_, &recompute_out_})
    total += t->defined() ? t->nbytes() : 0;
  return total;
}

}  // namespace neft::model
