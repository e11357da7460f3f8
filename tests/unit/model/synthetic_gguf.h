// A small Llama written as llama.cpp writes one, for the GGUF tests, the bad-input corpus and
// the fuzz corpus: tensors in ggml's dimension order with q/k rows reordered, llama.* keys,
// a byte-level vocabulary.
#pragma once
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "model/llama.h"
#include "tests/unit/model/gguf_writer.h"
#include "tokenizer/byte_level.h"

namespace neft::testing {

// llama.cpp's converter: within each head, HF row j * D/2 + i becomes row 2 i + j.
inline std::vector<float> permute_like_llama_cpp(const std::vector<float>& w, int64_t heads,
                                                 int64_t rows, int64_t cols) {
  std::vector<float> out(w.size());
  const int64_t D = rows / heads;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t i = 0; i < D / 2; ++i)
        std::copy_n(w.data() + (h * D + j * D / 2 + i) * cols, cols,
                    out.data() + (h * D + 2 * i + j) * cols);
  return out;
}

inline std::string as_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

// A two-layer Llama with grouped heads as llama.cpp would write it, its vocabulary GGUF's
// byte-level tokens plus <s>, </s> and one merge; `attn_q_type` marks the q tensors with
// another ggml type (an unsupported one, say).
struct SyntheticGguf {
  model::LlamaConfig config;
  std::unique_ptr<model::LlamaModel> model;
  std::string bytes;
};

inline SyntheticGguf synthetic_gguf(uint32_t attn_q_type = 0) {
  SyntheticGguf s;
  model::LlamaConfig& c = s.config;
  c.name = "synthetic";
  c.hidden = 32, c.intermediate = 48, c.layers = 2, c.heads = 4, c.kv_heads = 2, c.head_dim = 8;
  c.vocab = 259, c.max_positions = 64, c.rms_eps = 1e-5f, c.rope_theta = 500000.0f;
  s.model = std::make_unique<model::LlamaModel>(c);
  s.model->init_random(7, 0.1f);
  GgufWriter w;
  w.str("general.architecture", "llama");
  w.u32("llama.embedding_length", 32);
  w.u32("llama.feed_forward_length", 48);
  w.u32("llama.block_count", 2);
  w.u32("llama.attention.head_count", 4);
  w.u32("llama.attention.head_count_kv", 2);
  w.u32("llama.context_length", 64);
  w.u32("llama.rope.dimension_count", 8);
  w.f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.f32("llama.rope.freq_base", 500000.0f);
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(tokenizer::byte_level_char(uint8_t(b)));
    types.push_back(1);
  }
  tokens.push_back("<s>"), types.push_back(3);
  tokens.push_back("</s>"), types.push_back(3);
  tokens.push_back("ab"), types.push_back(1);
  w.str("tokenizer.ggml.model", "gpt2");
  w.str("tokenizer.ggml.pre", "smollm");
  w.strings("tokenizer.ggml.tokens", tokens);
  w.i32s("tokenizer.ggml.token_type", types);
  w.strings("tokenizer.ggml.merges", {"a b"});
  w.u32("tokenizer.ggml.bos_token_id", 256);
  w.u32("tokenizer.ggml.eos_token_id", 257);
  w.str("tokenizer.chat_template", "{{ messages }}");
  auto put = [&](const std::string& gguf, const std::string& hf, int64_t permute_heads,
                 uint32_t type = 0) {
    const Parameter& p = s.model->parameter(hf);
    std::vector<float> v = p.value.to_floats();
    std::vector<uint64_t> dims(p.value.shape().rbegin(), p.value.shape().rend());
    if (permute_heads)
      v = permute_like_llama_cpp(v, permute_heads, p.value.size(0), p.value.size(1));
    w.tensor(gguf, dims, type, as_bytes(v));
  };
  put("token_embd.weight", "model.embed_tokens.weight", 0);
  for (int l = 0; l < 2; ++l) {
    const std::string g = "blk." + std::to_string(l) + ".",
                      h = "model.layers." + std::to_string(l) + ".";
    put(g + "attn_norm.weight", h + "input_layernorm.weight", 0);
    put(g + "attn_q.weight", h + "self_attn.q_proj.weight", 4, attn_q_type);
    put(g + "attn_k.weight", h + "self_attn.k_proj.weight", 2);
    put(g + "attn_v.weight", h + "self_attn.v_proj.weight", 0);
    put(g + "attn_output.weight", h + "self_attn.o_proj.weight", 0);
    put(g + "ffn_norm.weight", h + "post_attention_layernorm.weight", 0);
    put(g + "ffn_gate.weight", h + "mlp.gate_proj.weight", 0);
    put(g + "ffn_up.weight", h + "mlp.up_proj.weight", 0);
    put(g + "ffn_down.weight", h + "mlp.down_proj.weight", 0);
  }
  put("output_norm.weight", "model.norm.weight", 0);
  put("output.weight", "lm_head.weight", 0);
  s.bytes = w.bytes();
  return s;
}

}  // namespace neft::testing
