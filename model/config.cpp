#include "model/config.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "runtime/atomic_file.h"
#include "runtime/error.h"
#include "runtime/json_file.h"
#include "runtime/text.h"

namespace neft::model {

using nlohmann::json;

namespace {

// Typed access to a config.json's keys; a null value counts as absent, as HF treats it.
class ConfigKeys {
 public:
  ConfigKeys(const json& j, const std::string& path) : j_(j), path_(path) {}

  const json* find(const char* key) const {
    const auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  const json& require(const char* key) const {
    const json* v = find(key);
    if (!v) fail(path_, ": missing required key '", key, "'");
    return *v;
  }
  [[noreturn]] void wrong_type(const char* key, const char* expected, const json& v) const {
    fail(path_, ": key '", key, "' must be ", expected, " (got ", json_excerpt(v), ")");
  }
  int64_t integer(const char* key, const json& v) const {
    if (!v.is_number_integer()) wrong_type(key, "an integer", v);
    return v.get<int64_t>();
  }
  double number(const char* key, const json& v) const {
    if (!v.is_number()) wrong_type(key, "a number", v);
    return v.get<double>();
  }

  int64_t required_int(const char* key) const { return integer(key, require(key)); }
  std::optional<int64_t> optional_int(const char* key) const {
    const json* v = find(key);
    return v ? std::optional(integer(key, *v)) : std::nullopt;
  }
  double optional_number(const char* key, double fallback) const {
    const json* v = find(key);
    return v ? number(key, *v) : fallback;
  }
  bool optional_bool(const char* key, bool fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) wrong_type(key, "true or false", *v);
    return v->get<bool>();
  }
  std::optional<std::string> optional_string(const char* key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) wrong_type(key, "a string", *v);
    return v->get<std::string>();
  }

 private:
  const json& j_;
  const std::string& path_;
};

// Llama variants this implementation does not compute: refuse them rather than train a
// different model than the user loaded.
void reject_unsupported_features(const ConfigKeys& keys, const std::string& path) {
  if (auto type = keys.optional_string("model_type"); type && *type != "llama")
    fail(path, ": model_type '", *type, "' is not supported (expected 'llama')");
  if (auto act = keys.optional_string("hidden_act"); act && *act != "silu")
    fail(path, ": hidden_act '", *act, "' is not supported (only 'silu', Llama's SwiGLU)");
  for (const char* bias : {"attention_bias", "mlp_bias"})
    if (keys.optional_bool(bias, false))
      fail(path, ": ", bias, " true is not supported (Llama layers have no biases)");
  if (const json* scaling = keys.find("rope_scaling"))
    fail(path, ": rope_scaling ", json_excerpt(*scaling), " is not supported (plain RoPE only)");
}

// RoPE's base. transformers >= 5 writes it inside "rope_parameters" {"rope_type",
// "rope_theta"}; earlier versions as a top-level "rope_theta". Either is read, and any
// rope_type but "default" (the scaled variants) is refused like rope_scaling.
double read_rope_theta(const ConfigKeys& keys, const std::string& path) {
  const json* params = keys.find("rope_parameters");
  if (!params) return keys.optional_number("rope_theta", 10000.0);
  if (!params->is_object())
    fail(path, ": key 'rope_parameters' must be an object (got ", json_excerpt(*params), ")");
  const std::string source = path + ": rope_parameters";
  const ConfigKeys inner(*params, source);
  if (auto type = inner.optional_string("rope_type"); type && *type != "default")
    fail(source, ": rope_type '", *type, "' is not supported (plain RoPE only)");
  return inner.optional_number("rope_theta", keys.optional_number("rope_theta", 10000.0));
}

// The shortest decimal that reads back as the same float, so 1e-5f is written "1e-05"
// (as HF writes it) rather than the double nearest the float, 9.999999747378752e-06.
double shortest_decimal(float f) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, f).ptr;
  return std::strtod(std::string(buf, end).c_str(), nullptr);
}

const std::vector<LlamaConfig>& presets() {
  // name, hidden, intermediate, layers, heads, kv_heads, head_dim, vocab, max_positions,
  // rms_eps, rope_theta, tied_embeddings
  static const std::vector<LlamaConfig> table = {
      // Trains the synthetic task suite on a CPU in minutes.
      {"tiny", 128, 384, 4, 4, 2, 32, 64, 256, 1e-5f, 10000.0f, false},
      {"tiny-tied", 128, 384, 4, 4, 2, 32, 64, 256, 1e-5f, 10000.0f, true},
      // About 21M parameters: the CPU training benchmark.
      {"small-20m", 512, 1536, 6, 8, 4, 64, 4096, 1024, 1e-5f, 10000.0f, true},
      {"smollm2-135m", 576, 1536, 30, 9, 3, 64, 49152, 8192, 1e-5f, 100000.0f, true},
      // Llama-3.2-1B's shapes; its 128k context needs rope_scaling, so 8192 positions here.
      {"llama-1b", 2048, 8192, 16, 32, 8, 64, 128256, 8192, 1e-5f, 500000.0f, true},
      {"llama2-7b", 4096, 11008, 32, 32, 32, 128, 32000, 4096, 1e-5f, 10000.0f, false},
      {"llama2-13b", 5120, 13824, 40, 40, 40, 128, 32000, 4096, 1e-5f, 10000.0f, false},
      {"llama2-70b", 8192, 28672, 80, 64, 8, 128, 32000, 4096, 1e-5f, 10000.0f, false},
      {"llama3-8b", 4096, 14336, 32, 32, 8, 128, 128256, 8192, 1e-5f, 500000.0f, false},
      {"llama3-70b", 8192, 28672, 80, 64, 8, 128, 128256, 8192, 1e-5f, 500000.0f, false},
  };
  return table;
}

}  // namespace

int64_t LlamaConfig::parameter_count() const {
  const int64_t attention = hidden * q_dim() * 2 + hidden * kv_dim() * 2;  // q, o; k, v
  const int64_t mlp = 3 * hidden * intermediate;                           // gate, up, down
  const int64_t norms = 2 * hidden;
  const int64_t embedding = vocab * hidden;
  return embedding * (tied_embeddings ? 1 : 2) + layers * (attention + mlp + norms) + hidden;
}

void LlamaConfig::validate(const std::string& source) const {
  // Sizes beyond 2^31 are typos, and would overflow the products below.
  constexpr int64_t kMaxSize = (int64_t(1) << 31) - 1;
  const std::pair<const char*, int64_t> sizes[] = {{"hidden_size", hidden},
                                                   {"intermediate_size", intermediate},
                                                   {"num_hidden_layers", layers},
                                                   {"num_attention_heads", heads},
                                                   {"num_key_value_heads", kv_heads},
                                                   {"head_dim", head_dim},
                                                   {"vocab_size", vocab},
                                                   {"max_position_embeddings", max_positions}};
  for (const auto& [key, value] : sizes)
    if (value <= 0 || value > kMaxSize)
      fail(source, ": ", key, " must be a positive size (got ", value, ")");
  if (heads % kv_heads != 0)
    fail(source, ": num_attention_heads ", heads, " is not divisible by num_key_value_heads ",
         kv_heads, " (each key/value head serves a whole group of query heads)");
  if (head_dim % 2 != 0)
    fail(source, ": head_dim ", head_dim, " must be even (RoPE rotates pairs of features)");
  if (!(std::isfinite(rms_eps) && rms_eps > 0))
    fail(source, ": rms_norm_eps must be positive (got ", rms_eps, ")");
  if (!(std::isfinite(rope_theta) && rope_theta > 0))
    fail(source, ": rope_theta must be positive (got ", rope_theta, ")");
}

LlamaConfig load_hf_config(const std::string& path) {
  const json j = read_json_file(path);
  if (!j.is_object()) fail(path, ": expected a JSON object, got ", json_excerpt(j));
  const ConfigKeys keys(j, path);
  reject_unsupported_features(keys, path);

  LlamaConfig c;
  c.name = path;
  c.hidden = keys.required_int("hidden_size");
  c.intermediate = keys.required_int("intermediate_size");
  c.layers = keys.required_int("num_hidden_layers");
  c.heads = keys.required_int("num_attention_heads");
  c.vocab = keys.required_int("vocab_size");
  c.kv_heads = keys.optional_int("num_key_value_heads").value_or(c.heads);
  c.max_positions = keys.optional_int("max_position_embeddings").value_or(2048);
  c.rms_eps = float(keys.optional_number("rms_norm_eps", 1e-6));  // HF LlamaConfig defaults
  c.rope_theta = float(read_rope_theta(keys, path));
  c.tied_embeddings = keys.optional_bool("tie_word_embeddings", false);
  c.bos_token_id = keys.optional_int("bos_token_id").value_or(-1);
  c.pad_token_id = keys.optional_int("pad_token_id").value_or(-1);
  if (const json* eos = keys.find("eos_token_id")) {
    if (eos->is_array()) {
      for (const json& e : *eos) c.eos_token_ids.push_back(keys.integer("eos_token_id", e));
    } else {
      c.eos_token_ids.push_back(keys.integer("eos_token_id", *eos));
    }
  }
  if (auto head_dim = keys.optional_int("head_dim")) {
    c.head_dim = *head_dim;  // explicit: q_dim may differ from hidden
  } else {
    if (c.heads > 0 && c.hidden % c.heads != 0)
      fail(path, ": hidden_size ", c.hidden, " is not divisible by num_attention_heads ", c.heads,
           " (and no head_dim is given)");
    c.head_dim = c.heads > 0 ? c.hidden / c.heads : 0;
  }
  c.validate(path);
  return c;
}

void save_hf_config(const LlamaConfig& c, const std::string& path, const std::string& torch_dtype) {
  c.validate(c.name.empty() ? path : c.name);
  if (torch_dtype != "float32" && torch_dtype != "bfloat16" && torch_dtype != "float16")
    fail("writing ", path, ": torch_dtype '", torch_dtype,
         "' is not one of float32, bfloat16, float16");
  nlohmann::ordered_json j;
  j["architectures"] = {"LlamaForCausalLM"};
  j["model_type"] = "llama";
  j["hidden_size"] = c.hidden;
  j["intermediate_size"] = c.intermediate;
  j["num_hidden_layers"] = c.layers;
  j["num_attention_heads"] = c.heads;
  j["num_key_value_heads"] = c.kv_heads;
  j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.vocab;
  j["max_position_embeddings"] = c.max_positions;
  j["rms_norm_eps"] = shortest_decimal(c.rms_eps);
  j["rope_theta"] = shortest_decimal(c.rope_theta);
  j["rope_scaling"] = nullptr;
  j["tie_word_embeddings"] = c.tied_embeddings;
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  if (c.eos_token_ids.size() > 1) j["eos_token_id"] = c.eos_token_ids;
  if (c.pad_token_id >= 0) j["pad_token_id"] = c.pad_token_id;
  j["hidden_act"] = "silu";
  j["attention_bias"] = false;
  j["attention_dropout"] = 0.0;
  j["mlp_bias"] = false;
  j["initializer_range"] = 0.02;
  j["torch_dtype"] = torch_dtype;
  write_file_atomic(path, j.dump(2) + "\n");
}

LlamaConfig preset(const std::string& name) {
  for (const LlamaConfig& c : presets())
    if (c.name == name) return c;
  fail("unknown model preset '", name, "' (known: ", join(preset_names(), ", "), ")");
}

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const LlamaConfig& c : presets()) names.push_back(c.name);
  return names;
}

LlamaConfig resolve_config(const std::string& name_or_path) {
  // A preset name wins over a same-named directory; "./tiny" means the directory.
  for (const LlamaConfig& c : presets())
    if (c.name == name_or_path) return c;
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(name_or_path, ec)) {
    const std::string config = (fs::path(name_or_path) / "config.json").string();
    // A dangling link is there: reading it says where it points.
    if (!fs::exists(fs::symlink_status(config, ec)))
      fail(name_or_path, ": model directory has no config.json");
    return load_hf_config(config);
  }
  if (fs::exists(name_or_path, ec)) return load_hf_config(name_or_path);
  fail("model '", name_or_path, "' is neither a preset (", join(preset_names(), ", "),
       ") nor a config.json or a directory holding one");
}

}  // namespace neft::model
