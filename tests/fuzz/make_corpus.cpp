// neft_fuzz_make_corpus OUT_DIR: writes the fuzz targets' seed corpus, OUT_DIR/<target>/*, a
// few valid files made by the project's own writers and a few near-valid ones (each one
// mistake away). tests/fuzz/corpus/ holds its output:
//   build-fuzz/tests/fuzz/neft_fuzz_make_corpus tests/fuzz/corpus
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "model/config.h"
#include "model/safetensors.h"
#include "neuron/delta.h"
#include "neuron/neuron_set.h"
#include "tests/fuzz/checkpoint_index_fixture.h"
#include "tests/fuzz/index_fixture.h"
#include "tests/unit/model/synthetic_gguf.h"

namespace fs = std::filesystem;
using namespace neft;
using nlohmann::ordered_json;

namespace {

fs::path out;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_text(const std::string& target, const std::string& name, const std::string& text) {
  fs::create_directories(out / target);
  std::ofstream(out / target / name, std::ios::binary) << text;
}

std::string path_of(const std::string& target, const std::string& name) {
  fs::create_directories(out / target);
  return (out / target / name).string();
}

// A safetensors file from its header and data bytes as given, right or wrong.
std::string raw_safetensors(const ordered_json& header, const std::string& data) {
  const std::string h = header.dump();
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[size_t(i)] = char((uint64_t(h.size()) >> (8 * i)) & 0xff);
  return bytes + h + data;
}

void safetensors() {
  const std::string t = "fuzz_safetensors";
  Tensor i64 = Tensor::empty({2}, DType::I64);
  i64.data<int64_t>()[0] = int64_t(1) << 40;
  i64.data<int64_t>()[1] = -3;
  model::save_safetensors(path_of(t, "dtypes.safetensors"),
                          {{"f32", Tensor::from_floats({1.5f, -2, 0, 4, 8, 1e-3f}, {2, 3})},
                           {"bf16", Tensor::from_floats({1, -1, 0.5f, 3}, {4}, DType::BF16)},
                           {"f16", Tensor::from_floats({1, 2, 3, 4}, {2, 2}, DType::F16)},
                           {"i32", Tensor::from_ints({3, -1, 4}, {3})},
                           {"i64", i64},
                           {"scalar", Tensor::from_floats({7}, {})},
                           {"empty", Tensor::empty({0, 4}, DType::F32)}},
                          {{"note", "seed"}});
  model::save_safetensors(path_of(t, "one.safetensors"),
                          {{"w", Tensor::from_floats({1, 2, 3, 4}, {2, 2})}});
  const std::string one = read_text(path_of(t, "one.safetensors"));
  write_text(t, "truncated.safetensors", one.substr(0, one.size() - 4));

  const std::string data(16, '\x01');
  const auto tensor = [](const char* dtype, ordered_json shape, ordered_json offsets) {
    return ordered_json{{"dtype", dtype}, {"shape", shape}, {"data_offsets", offsets}};
  };
  write_text(t, "overlap.safetensors",
             raw_safetensors(
                 {{"a", tensor("F32", {2}, {0, 8})}, {"b", tensor("F32", {2}, {4, 12})}}, data));
  write_text(t, "dtype_u8.safetensors", raw_safetensors({{"a", tensor("U8", {4}, {0, 4})}}, data));
  write_text(t, "offsets_past_end.safetensors",
             raw_safetensors({{"a", tensor("F16", {2, 8}, {0, 32})}}, data));
  write_text(t, "nan.safetensors",
             raw_safetensors({{"a", tensor("F32", {2}, {0, 8})}},
                             std::string("\x00\x00\xc0\x7f\x00\x00\x80\x7f", 8)));
}

void config() {
  const std::string t = "fuzz_config";
  model::save_hf_config(model::preset("tiny"), path_of(t, "tiny.json"));
  model::save_hf_config(model::preset("smollm2-135m"), path_of(t, "smollm2.json"), "bfloat16");
  // As transformers >= 5 writes it, without head_dim or num_key_value_heads.
  write_text(t, "rope_parameters.json",
             ordered_json{{"architectures", {"LlamaForCausalLM"}},
                          {"model_type", "llama"},
                          {"hidden_size", 64},
                          {"intermediate_size", 128},
                          {"num_hidden_layers", 2},
                          {"num_attention_heads", 4},
                          {"vocab_size", 100},
                          {"rms_norm_eps", 1e-5},
                          {"rope_scaling", nullptr},
                          {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 500000.0}}}}
                 .dump(2));
  write_text(t, "gelu.json",
             R"({"model_type": "llama", "hidden_act": "gelu", "hidden_size": 64,)"
             R"( "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,)"
             R"( "vocab_size": 100})");
  write_text(t, "heads_not_dividing.json",
             R"({"hidden_size": 96, "intermediate_size": 128, "num_hidden_layers": 2,)"
             R"( "num_attention_heads": 6, "num_key_value_heads": 4, "vocab_size": 100})");
  write_text(t, "missing_vocab.json",
             R"({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,)"
             R"( "num_attention_heads": 4, "head_dim": 32, "rms_norm_eps": 0})");
}

void index() {
  const std::string t = "fuzz_index";
  const fs::path dir = out / ".index";
  model::save_safetensors_sharded(dir.string(), fuzz::index_tensors(), fuzz::kIndexShardBytes);
  const std::string text = read_text(dir / model::kSafetensorsIndexFile);
  fs::remove_all(dir);
  write_text(t, "index.json", text);
  nlohmann::json j = nlohmann::json::parse(text);
  const std::string first = j["weight_map"]["model.embed_tokens.weight"];
  const std::string second = j["weight_map"]["step"];
  j["weight_map"].erase("model.norm.weight");
  write_text(t, "subset.json", j.dump());
  j["weight_map"]["lm_head.weight"] = first;  // that shard has no such tensor
  write_text(t, "wrong_shard.json", j.dump());
  j["weight_map"]["lm_head.weight"] = "model-00003-of-00003.safetensors";
  write_text(t, "missing_shard.json", j.dump());
  write_text(t, "not_a_map.json",
             R"({"metadata": {"total_size": 44}, "weight_map": [")" + second + R"("]})");
}

void checkpoint_indexes() {
  const std::string t = "fuzz_checkpoint_index";
  nlohmann::json j = fuzz::checkpoint_index();
  write_text(t, "index.json", j.dump(1));
  nlohmann::json gap = j;  // rows 2-3 of w in no file
  gap["tensors"]["w"]["slices"].erase(1);
  write_text(t, "gap.json", gap.dump());
  nlohmann::json twice = j;  // one slice listed twice: more than the whole
  twice["tensors"]["w"]["slices"].push_back(j["tensors"]["w"]["slices"][0]);
  write_text(t, "overlap.json", twice.dump());
  nlohmann::json outside = j;
  outside["tensors"]["w"]["slices"][1]["offset"] = {3, 0};
  write_text(t, "outside.json", outside.dump());
  nlohmann::json escape = j;
  escape["tensors"]["w"]["slices"][0]["file"] = "../rank-00000.safetensors";
  write_text(t, "escape.json", escape.dump());
  nlohmann::json huge = j;
  huge["tensors"]["w"]["shape"] = {int64_t(1) << 40, int64_t(1) << 40};
  write_text(t, "huge.json", huge.dump());
  nlohmann::json rows = j;  // a row set whose files lack its tensor
  rows["tensors"]["q.rows"] = j["tensors"]["p.rows"];
  rows["tensors"]["q.rows"]["rows_of"] = "q";
  write_text(t, "missing_rows.json", rows.dump());
  nlohmann::json dtype = j;  // a dtype that is not a string (once escaped as a json error)
  dtype["tensors"]["p.rows"]["dtype"] = nlohmann::json::array({"f32"});
  write_text(t, "dtype_not_string.json", dtype.dump());
  write_text(t, "not_sharded.json", R"({"format": "neft-delta", "version": 1, "tensors": {}})");
}

void sft() {
  const std::string t = "fuzz_sft_jsonl";
  write_text(t, "tasks.jsonl",
             "{\"prompt\": [1, 2, 3], \"response\": [4, 5], \"task\": \"copy\"}\n"
             "\n"
             "{\"prompt\": [9], \"response\": [8, 7, 6], \"task\": \"reverse\", \"id\": 3}\r\n"
             "{\"prompt\": [255, 0], \"response\": [1]}\n");
  write_text(t, "one.jsonl", "{\"prompt\": [10, 11], \"response\": [12]}");
  write_text(t, "out_of_vocab.jsonl", "{\"prompt\": [1], \"response\": [256]}\n");
  write_text(t, "empty_prompt.jsonl",
             "{\"prompt\": [1], \"response\": [2]}\n{\"prompt\": [], \"response\": [2]}\n");
  write_text(t, "not_object.jsonl", "[1, 2]\n");
  write_text(t, "float_id.jsonl", "{\"prompt\": [1.5], \"response\": [-1], \"task\": 3}\n");
}

void neuron_sets() {
  const std::string t = "fuzz_neuron_set";
  using neuron::make_id;
  using neuron::NeuronKind;
  const model::LlamaConfig tiny = model::preset("tiny");
  const neuron::NeuronSpace space(tiny, neuron::NeuronKinds::parse("ffn,kv", true));
  const std::string selection = path_of(t, "selection.safetensors");
  neuron::save_neuron_set(
      selection,
      neuron::make_neuron_set(space,
                              {make_id(0, NeuronKind::Ffn, 3), make_id(1, NeuronKind::KV, 15),
                               make_id(3, NeuronKind::Ffn, 383)},
                              {0.5f, -2, 7.25f}, "cosine", "3", "global"));
  // A scores file: every neuron of a small kind.
  const neuron::NeuronSpace kv(tiny, neuron::NeuronKinds::parse("kv"));
  std::vector<neuron::NeuronId> ids = kv.owned(0, 0);
  std::vector<float> scores(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) scores[i] = float(i % 7) - 3;
  neuron::save_neuron_set(path_of(t, "scores_kv.safetensors"),
                          neuron::make_neuron_set(kv, ids, scores, "random", "all", ""));
  neuron::save_neuron_set(path_of(t, "empty.safetensors"),
                          neuron::make_neuron_set(space, {}, {}, "", "all", ""));

  // One mistake each, with the selection's metadata.
  const model::Metadata meta = model::SafetensorsFile(selection).metadata();
  const auto with = [&](const std::string& name, std::vector<neuron::NeuronId> id_list,
                        model::Metadata m) {
    Tensor id_tensor = Tensor::empty({int64_t(id_list.size())}, DType::I64);
    for (size_t i = 0; i < id_list.size(); ++i) id_tensor.data<int64_t>()[i] = id_list[i];
    model::save_safetensors(path_of(t, name),
                            {{"ids", id_tensor},
                             {"scores", Tensor::from_floats(std::vector<float>(id_list.size(), 1),
                                                            {int64_t(id_list.size())})}},
                            m);
  };
  with("descending.safetensors", {make_id(1, NeuronKind::Ffn, 2), make_id(0, NeuronKind::Ffn, 1)},
       meta);
  with("out_of_range.safetensors", {make_id(0, NeuronKind::Ffn, 384)}, meta);
  model::Metadata other = meta;
  other["hidden_size"] = "64";
  with("other_model.safetensors", {make_id(0, NeuronKind::Ffn, 1)}, other);
}

void deltas() {
  const std::string t = "fuzz_delta";
  const model::LlamaConfig tiny = model::preset("tiny");
  const model::Metadata meta = neuron::delta_metadata(tiny, "ffn,qo,kv", true);
  const auto rows = [&](int64_t k, DType dtype) {
    std::vector<float> v(size_t(k * tiny.hidden));
    for (size_t i = 0; i < v.size(); ++i) v[i] = float(i % 5) * 0.25f;
    return Tensor::from_floats(v, {k, tiny.hidden}, dtype);
  };
  const std::string up = "model.layers.0.mlp.up_proj.weight";
  const std::string down = "model.layers.3.mlp.down_proj.weight";
  const std::string k_proj = "model.layers.1.self_attn.k_proj.weight";
  model::save_safetensors(path_of(t, "delta.safetensors"),
                          {{up + ".neurons", Tensor::from_ints({2, 40}, {2})},
                           {up + ".rows", rows(2, DType::F32)},
                           {down + ".neurons", Tensor::from_ints({383}, {1})},
                           {down + ".rows", rows(1, DType::BF16)},
                           {k_proj + ".neurons", Tensor::from_ints({0}, {1})},
                           {k_proj + ".rows", rows(1, DType::F16)}},
                          meta);
  model::save_safetensors(
      path_of(t, "not_ascending.safetensors"),
      {{up + ".neurons", Tensor::from_ints({40, 2}, {2})}, {up + ".rows", rows(2, DType::F32)}},
      meta);
  model::save_safetensors(
      path_of(t, "unknown_parameter.safetensors"),
      {{"model.layers.9.mlp.up_proj.weight.neurons", Tensor::from_ints({1}, {1})},
       {"model.layers.9.mlp.up_proj.weight.rows", rows(1, DType::F32)}},
      meta);
  model::save_safetensors(path_of(t, "rows_without_neurons.safetensors"),
                          {{up + ".rows", rows(1, DType::F32)}}, meta);
  model::Metadata other = meta;
  other["hidden"] = "64";
  model::save_safetensors(
      path_of(t, "other_model.safetensors"),
      {{up + ".neurons", Tensor::from_ints({1}, {1})}, {up + ".rows", rows(1, DType::F32)}}, other);
}

}  // namespace

// Small tokenizers in the shapes of the families (tests/golden/tokenizers/ has full ones),
// and near-valid ones.
ordered_json byte_vocab() {
  // GPT-2's byte alphabet as the vocabulary's first 256 tokens.
  ordered_json v = ordered_json::object();
  int next = 256, id = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    const int cp = printable ? b : next++;
    std::string s;
    if (cp < 0x80) {
      s += char(cp);
    } else {
      s += char(0xC0 | (cp >> 6));
      s += char(0x80 | (cp & 0x3F));
    }
    v[s] = id++;
  }
  v["\xC4\xA0t"] = id++;  // "Ġt"
  v["he"] = id++;
  v["\xC4\xA0the"] = id++;
  return v;
}

void tokenizers() {
  const std::string t = "fuzz_tokenizer";
  const ordered_json added = ordered_json::array(
      {{{"id", 259}, {"content", "<|end|>"}, {"special", true}, {"normalized", false}},
       {{"id", 260}, {"content", "<s>"}, {"special", true}, {"lstrip", true}}});
  ordered_json byte_level{
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         ordered_json::array(
             {{{"type", "Digits"}, {"individual_digits", true}},
              {{"type", "Split"},
               {"pattern", {{"Regex", R"(\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"}}},
               {"behavior", "Isolated"},
               {"invert", false}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         ordered_json::array({{{"SpecialToken", {{"id", "<s>"}}}}, {{"Sequence", {{"id", "A"}}}}})},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", ordered_json::array({260})}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"},
        {"ignore_merges", true},
        {"vocab", byte_vocab()},
        {"merges", ordered_json::array({ordered_json::array({"\xC4\xA0", "t"}),
                                        ordered_json::array({"h", "e"}),
                                        ordered_json::array({"\xC4\xA0t", "he"})})}}}};
  write_text(t, "byte_level.json", byte_level.dump(1));

  ordered_json pieces = ordered_json::object();
  pieces["<unk>"] = 0;
  pieces["<s>"] = 1;
  pieces["</s>"] = 2;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    pieces[name] = 3 + b;
  }
  pieces["\xE2\x96\x81"] = 259;  // "▁"
  pieces["a"] = 260;
  pieces["b"] = 261;
  pieces
      ["\xE2\x96\x81"
       "a"] = 262;  // "▁a"
  ordered_json sentencepiece{
      {"added_tokens", ordered_json::array({{{"id", 0}, {"content", "<unk>"}, {"special", true}},
                                            {{"id", 1}, {"content", "<s>"}, {"special", true}},
                                            {{"id", 2}, {"content", "</s>"}, {"special", true}}})},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers", ordered_json::array({{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                                             {{"type", "Replace"},
                                              {"pattern", {{"String", " "}}},
                                              {"content", "\xE2\x96\x81"}}})}}},
      {"pre_tokenizer", nullptr},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         ordered_json::array(
             {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
              {{"type", "ByteFallback"}},
              {{"type", "Fuse"}},
              {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}},
      {"model",
       {{"type", "BPE"},
        {"unk_token", "<unk>"},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"vocab", pieces},
        {"merges", ordered_json::array({"\xE2\x96\x81 a"})}}}};
  write_text(t, "sentencepiece.json", sentencepiece.dump(1));

  ordered_json unknown = sentencepiece;
  unknown["model"]["byte_fallback"] = false;
  unknown["normalizer"] = {
      {"type", "Sequence"},
      {"normalizers",
       ordered_json::array({{{"type", "NFKC"}}, {{"type", "Lowercase"}}, {{"type", "Strip"}}})}};
  unknown["pre_tokenizer"] = {{"type", "Metaspace"},
                              {"replacement", "\xE2\x96\x81"},
                              {"prepend_scheme", "first"},
                              {"split", true}};
  unknown["decoder"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}};
  write_text(t, "metaspace_unknown.json", unknown.dump(1));

  ordered_json bad = byte_level;
  bad["model"]["merges"][1] = ordered_json::array({"q", "zz"});
  write_text(t, "merge_of_unknown.json", bad.dump(1));
  bad = byte_level;
  bad["pre_tokenizer"]["pretokenizers"][1]["pattern"]["Regex"] = "(\\p{L";
  write_text(t, "bad_regex.json", bad.dump(1));
  bad = sentencepiece;
  bad["model"]["type"] = "WordPiece";
  write_text(t, "wordpiece.json", bad.dump(1));
  bad = sentencepiece;
  bad["model"]["vocab"]["b"] = 2000000000;  // would size an id table of 2e9 strings
  write_text(t, "id_far_past_vocab.json", bad.dump(1));
}

// A small Llama as llama.cpp writes one, and tensors of every type read.
void ggufs() {
  const std::string t = "fuzz_gguf";
  const std::string whole = testing::synthetic_gguf().bytes;
  write_text(t, "llama.gguf", whole);
  write_text(t, "q6_k.gguf", testing::synthetic_gguf(14).bytes);
  write_text(t, "truncated.gguf", whole.substr(0, whole.size() / 2));
  testing::GgufWriter w;
  std::string q8(34, '\x01'), q40(18, '\x22'), q41(20, '\x33'), half(8, '\x3c');
  w.tensor("q8", {32}, 8, q8);
  w.tensor("q4_0", {32}, 2, q40);
  w.tensor("q4_1", {32}, 3, q41);
  w.tensor("f16", {4}, 1, half);
  w.tensor("bf16", {4}, 30, half);
  write_text(t, "types.gguf", w.bytes());
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  out = argv[1];
  safetensors();
  config();
  index();
  checkpoint_indexes();
  sft();
  neuron_sets();
  deltas();
  tokenizers();
  ggufs();
  return 0;
}
