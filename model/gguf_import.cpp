#include "model/gguf_import.h"

#include <filesystem>
#include <functional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "model/gguf.h"
#include "model/safetensors.h"
#include "runtime/atomic_file.h"
#include "runtime/error.h"

namespace neft::model {

namespace {

using nlohmann::ordered_json;

int64_t int_or(const GgufFile& g, const std::string& key, int64_t fallback) {
  return g.has(key) ? g.integer(key) : fallback;
}

LlamaConfig config_of(const GgufFile& g) {
  const std::string arch = g.string("general.architecture");
  if (arch != "llama")
    fail(g.path(), ": key 'general.architecture' is '", arch, "' (only llama is imported)");
  const std::string p = "llama.";
  if (g.has(p + "rope.scaling.type") && g.string(p + "rope.scaling.type") != "none")
    fail(g.path(), ": key 'llama.rope.scaling.type' is '", g.string(p + "rope.scaling.type"),
         "': RoPE scaling is not supported");
  LlamaConfig c;
  c.name = g.path();
  c.hidden = g.integer(p + "embedding_length");
  c.intermediate = g.integer(p + "feed_forward_length");
  c.layers = g.integer(p + "block_count");
  c.heads = g.integer(p + "attention.head_count");
  c.kv_heads = int_or(g, p + "attention.head_count_kv", c.heads);
  c.head_dim = int_or(g, p + "attention.key_length", c.heads > 0 ? c.hidden / c.heads : 0);
  if (g.has(p + "rope.dimension_count") && g.integer(p + "rope.dimension_count") != c.head_dim)
    fail(g.path(), ": key 'llama.rope.dimension_count' = ", g.integer(p + "rope.dimension_count"),
         " rotates part of a head of ", c.head_dim, " (partial RoPE is not supported)");
  const GgufTensor* embed = g.find("token_embd.weight");
  if (!embed) fail(g.path(), ": tensor 'token_embd.weight' is missing");
  c.vocab = int_or(g, p + "vocab_size", embed->dims.size() == 2 ? embed->dims[1] : 0);
  c.max_positions = int_or(g, p + "context_length", 2048);
  c.rms_eps = float(g.number(p + "attention.layer_norm_rms_epsilon"));
  c.rope_theta = g.has(p + "rope.freq_base") ? float(g.number(p + "rope.freq_base")) : 10000.0f;
  c.tied_embeddings = g.find("output.weight") == nullptr;
  c.bos_token_id = int_or(g, "tokenizer.ggml.bos_token_id", -1);
  c.pad_token_id = int_or(g, "tokenizer.ggml.padding_token_id", -1);
  if (g.has("tokenizer.ggml.eos_token_id"))
    c.eos_token_ids.push_back(g.integer("tokenizer.ggml.eos_token_id"));
  c.validate(g.path());
  return c;
}

// One HF parameter and where it comes from.
struct Source {
  std::string hf, gguf;
  std::vector<int64_t> shape;  // HF's [out, in] or [n]
  int64_t permute_heads = 0;   // q and k: undo llama.cpp's row order for this many heads
};

std::vector<Source> sources(const LlamaConfig& c) {
  std::vector<Source> s{{"model.embed_tokens.weight", "token_embd.weight", {c.vocab, c.hidden}}};
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string hf = "model.layers." + std::to_string(l) + ".",
                      gg = "blk." + std::to_string(l) + ".";
    s.push_back(
        {hf + "self_attn.q_proj.weight", gg + "attn_q.weight", {c.q_dim(), c.hidden}, c.heads});
    s.push_back(
        {hf + "self_attn.k_proj.weight", gg + "attn_k.weight", {c.kv_dim(), c.hidden}, c.kv_heads});
    s.push_back({hf + "self_attn.v_proj.weight", gg + "attn_v.weight", {c.kv_dim(), c.hidden}});
    s.push_back({hf + "self_attn.o_proj.weight", gg + "attn_output.weight", {c.hidden, c.q_dim()}});
    s.push_back({hf + "mlp.gate_proj.weight", gg + "ffn_gate.weight", {c.intermediate, c.hidden}});
    s.push_back({hf + "mlp.up_proj.weight", gg + "ffn_up.weight", {c.intermediate, c.hidden}});
    s.push_back({hf + "mlp.down_proj.weight", gg + "ffn_down.weight", {c.hidden, c.intermediate}});
    s.push_back({hf + "input_layernorm.weight", gg + "attn_norm.weight", {c.hidden}});
    s.push_back({hf + "post_attention_layernorm.weight", gg + "ffn_norm.weight", {c.hidden}});
  }
  s.push_back({"model.norm.weight", "output_norm.weight", {c.hidden}});
  if (!c.tied_embeddings) s.push_back({"lm_head.weight", "output.weight", {c.vocab, c.hidden}});
  return s;
}

// llama.cpp's converter reorders each head's rows of q and k from HF's halves (rotate_half:
// row j of the first half pairs with row j of the second) to interleaved pairs: HF row
// j * D/2 + i of a head is its GGUF row 2 i + j. This puts them back.
std::vector<float> unpermute(const std::vector<float>& w, int64_t heads, int64_t rows,
                             int64_t cols) {
  std::vector<float> out(w.size());
  const int64_t D = rows / heads, half = D / 2;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t i = 0; i < half; ++i) {
        const float* from = w.data() + (h * D + 2 * i + j) * cols;
        std::copy(from, from + cols, out.data() + (h * D + j * half + i) * cols);
      }
  return out;
}

// The pre-tokenizer that llama.cpp's tokenizer.ggml.pre names, as the model's own
// tokenizer.json has it; Llama-3's also takes whole pieces that are in the vocabulary.
struct PreTokenizer {
  ordered_json spec;
  bool ignore_merges = false;
};

PreTokenizer pre_tokenizer_of(const GgufFile& g) {
  const std::string pre = g.has("tokenizer.ggml.pre") ? g.string("tokenizer.ggml.pre") : "default";
  const ordered_json byte_level_regex = {{"type", "ByteLevel"},
                                         {"add_prefix_space", false},
                                         {"trim_offsets", true},
                                         {"use_regex", true}};
  auto split_then_bytes = [](const char* regex) {
    return ordered_json{{"type", "Sequence"},
                        {"pretokenizers", ordered_json::array({{{"type", "Split"},
                                                                {"pattern", {{"Regex", regex}}},
                                                                {"behavior", "Isolated"},
                                                                {"invert", false}},
                                                               {{"type", "ByteLevel"},
                                                                {"add_prefix_space", false},
                                                                {"trim_offsets", true},
                                                                {"use_regex", false}}})}};
  };
  if (pre == "default" || pre == "gpt2" || pre == "gpt-2") return {byte_level_regex};
  if (pre == "smollm")  // SmolLM / SmolLM2: each digit alone, then GPT-2's split
    return {
        {{"type", "Sequence"},
         {"pretokenizers", ordered_json::array({{{"type", "Digits"}, {"individual_digits", true}},
                                                byte_level_regex})}}};
  if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe")
    return {
        split_then_bytes(
            R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"),
        true};
  if (pre == "qwen2")
    return {split_then_bytes(
        R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)")};
  fail(g.path(), ": key 'tokenizer.ggml.pre' is '", pre,
       "', whose split is not known here (known: default, gpt2, smollm, llama3, llama-bpe, qwen2)");
}

// tokenizer.json of a byte-level BPE (tokenizer.ggml.model "gpt2"): the vocabulary by id,
// the merges, control tokens as special added tokens and user-defined ones as plain added
// tokens, the pre-tokenizer the file names, and a <bos> template when add_bos_token.
ordered_json tokenizer_json(const GgufFile& g, const LlamaConfig& c) {
  const std::string model = g.string("tokenizer.ggml.model");
  if (model != "gpt2")
    fail(g.path(), ": key 'tokenizer.ggml.model' is '", model,
         "' (a byte-level BPE, gpt2, is imported; SentencePiece vocabularies are not yet)");
  const std::vector<std::string> tokens = g.strings("tokenizer.ggml.tokens");
  const std::vector<int64_t> types = g.has("tokenizer.ggml.token_type")
                                         ? g.integers("tokenizer.ggml.token_type")
                                         : std::vector<int64_t>(tokens.size(), 1);
  if (types.size() != tokens.size())
    fail(g.path(), ": key 'tokenizer.ggml.token_type' has ", types.size(), " entries for ",
         tokens.size(), " tokens");
  if (int64_t(tokens.size()) > c.vocab)
    fail(g.path(), ": key 'tokenizer.ggml.tokens' has ", tokens.size(),
         " tokens, more than the model's vocabulary of ", c.vocab);
  ordered_json vocab = ordered_json::object(), added = ordered_json::array();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (vocab.contains(tokens[i]))
      fail(g.path(), ": key 'tokenizer.ggml.tokens': token ", i, " '", tokens[i],
           "' appears twice");
    vocab[tokens[i]] = i;
    if (types[i] == 3 || types[i] == 4)  // control, user-defined
      added.push_back({{"id", i},
                       {"content", tokens[i]},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", types[i] == 3}});
  }
  ordered_json merges = ordered_json::array();
  if (g.has("tokenizer.ggml.merges"))
    for (const std::string& m : g.strings("tokenizer.ggml.merges")) merges.push_back(m);
  ordered_json post = {{"type", "ByteLevel"},
                       {"add_prefix_space", true},
                       {"trim_offsets", false},
                       {"use_regex", true}};
  const bool add_bos =
      g.has("tokenizer.ggml.add_bos_token") && g.boolean("tokenizer.ggml.add_bos_token");
  if (add_bos && c.bos_token_id >= 0) {
    const std::string bos = tokens.at(size_t(c.bos_token_id));
    post = {{"type", "TemplateProcessing"},
            {"single", ordered_json::array({{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                                            {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
            {"pair", ordered_json::array({{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                                          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                          {{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                                          {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}})},
            {"special_tokens",
             {{bos,
               {{"id", bos},
                {"ids", ordered_json::array({c.bos_token_id})},
                {"tokens", ordered_json::array({bos})}}}}}};
  }
  const PreTokenizer pre = pre_tokenizer_of(g);
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", pre.spec},
          {"post_processor", post},
          {"decoder",
           {{"type", "ByteLevel"},
            {"add_prefix_space", true},
            {"trim_offsets", true},
            {"use_regex", true}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", pre.ignore_merges},
            {"vocab", vocab},
            {"merges", merges}}}};
}

std::string token_or_null(const std::vector<std::string>& tokens, int64_t id) {
  return id >= 0 && size_t(id) < tokens.size() ? tokens[size_t(id)] : std::string();
}

void write_tokenizer_files(const GgufFile& g, const LlamaConfig& c, const std::string& dir) {
  write_file_atomic(dir + "/tokenizer.json", tokenizer_json(g, c).dump(2) + "\n");
  const std::vector<std::string> tokens = g.strings("tokenizer.ggml.tokens");
  ordered_json tc = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                     {"model_max_length", c.max_positions},
                     {"clean_up_tokenization_spaces", false}};
  auto token_key = [&](const char* key, int64_t id) {
    const std::string t = token_or_null(tokens, id);
    if (!t.empty()) tc[key] = t;
  };
  token_key("bos_token", c.bos_token_id);
  token_key("eos_token", c.eos_token_ids.empty() ? -1 : c.eos_token_ids[0]);
  token_key("pad_token", c.pad_token_id);
  token_key("unk_token", int_or(g, "tokenizer.ggml.unknown_token_id", -1));
  if (g.has("tokenizer.ggml.add_bos_token"))
    tc["add_bos_token"] = g.boolean("tokenizer.ggml.add_bos_token");
  if (g.has("tokenizer.chat_template")) tc["chat_template"] = g.string("tokenizer.chat_template");
  write_file_atomic(dir + "/tokenizer_config.json", tc.dump(2) + "\n");

  ordered_json gen = ordered_json::object();
  if (c.bos_token_id >= 0) gen["bos_token_id"] = c.bos_token_id;
  if (!c.eos_token_ids.empty()) gen["eos_token_id"] = c.eos_token_ids[0];
  if (c.pad_token_id >= 0) gen["pad_token_id"] = c.pad_token_id;
  write_file_atomic(dir + "/generation_config.json", gen.dump(2) + "\n");
}

}  // namespace

void import_gguf(const std::string& gguf_path, const std::string& out_dir,
                 const GgufImportOptions& options) {
  if (options.dtype != DType::F32 && options.dtype != DType::BF16)
    fail("import-gguf: --dtype must be f32 or bf16");
  const GgufFile g(gguf_path);
  const LlamaConfig c = config_of(g);
  const std::vector<Source> src = sources(c);
  PlannedTensors planned;
  for (const Source& s : src) {
    const GgufTensor* t = g.find(s.gguf);
    if (!t) fail(gguf_path, ": tensor '", s.gguf, "' (", s.hf, ") is missing");
    // ggml lists dims fastest first: a [rows, cols] matrix is dims {cols, rows}.
    const std::vector<int64_t> want(s.shape.rbegin(), s.shape.rend());
    if (t->dims != want) {
      std::string got;
      for (int64_t d : t->dims) got += (got.empty() ? "" : ", ") + std::to_string(d);
      fail(gguf_path, ": tensor '", s.gguf, "' has dims [", got, "], not those of ", s.hf);
    }
    int64_t n = 1;
    for (int64_t d : s.shape) n *= d;
    planned.emplace_back(s.hf,
                         TensorInfo{options.dtype, s.shape, size_t(n) * dtype_size(options.dtype)});
  }
  if (g.tensors().size() != src.size())
    for (const GgufTensor& t : g.tensors()) {
      bool known = false;
      for (const Source& s : src) known = known || s.gguf == t.name;
      if (!known) fail(gguf_path, ": tensor '", t.name, "' is not a Llama weight neft knows");
    }
  auto make = [&](size_t i) {
    const Source& s = src[i];
    std::vector<float> w = g.read_f32(*g.find(s.gguf));
    if (s.permute_heads > 0) w = unpermute(w, s.permute_heads, s.shape[0], s.shape[1]);
    return Tensor::from_floats(w, s.shape, options.dtype);
  };
  write_directory_atomic(
      out_dir,
      [&](const std::string& dir) {
        save_hf_config(c, dir + "/config.json",
                       options.dtype == DType::BF16 ? "bfloat16" : "float32");
        write_tokenizer_files(g, c, dir);
        save_safetensors_sharded(dir, planned, make, options.max_shard_bytes);
      },
      std::string(kTempDirectoryMarker) + "import");
}

}  // namespace neft::model
