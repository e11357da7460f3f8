#include "lora/peft_format.h"

#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "lora/lora_adapter.h"
#include "model/shard.h"
#include "runtime/atomic_file.h"
#include "runtime/error.h"
#include "runtime/json_file.h"
#include "runtime/ops/gemm.h"

namespace neft::lora {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kPrefix = "base_model.model.";

// Every adapter tensor of `config` on a model of `c`, by neft's name, with its shape.
std::map<std::string, Shape> adapter_shapes(const LoraConfig& config, const model::LlamaConfig& c) {
  std::map<std::string, Shape> shapes;
  for (int64_t l = 0; l < c.layers; ++l)
    for (const std::string& t : config.targets) {
      const std::string base = target_weight(l, t);
      const auto [out, in] = target_shape(c, t);
      shapes[lora_name(base, 'A')] = {config.rank, in};
      shapes[lora_name(base, 'B')] = {out, config.rank};
    }
  return shapes;
}

}  // namespace

bool has_peft_adapter(const std::string& dir) {
  return fs::exists(fs::path(dir) / kAdapterConfigFile);
}

void attach_peft_adapter(model::LlamaModel& model, const std::string& dir) {
  const PeftAdapter a = load_peft_adapter(dir, &model.config());
  attach_lora(model, a.config, 0);
  load_adapter_weights(model, a, dir);
}

void write_peft_files(const std::string& dir, const PeftAdapter& a, const std::string& base_model) {
  json modules = json::array();
  for (const std::string& t : a.config.targets) modules.push_back(target_module(t));
  const json config = {{"peft_type", "LORA"},
                       {"task_type", "CAUSAL_LM"},
                       {"base_model_name_or_path", base_model},
                       {"r", a.config.rank},
                       {"lora_alpha", a.config.alpha},
                       {"lora_dropout", a.config.dropout},
                       {"target_modules", modules},
                       {"bias", "none"},
                       {"fan_in_fan_out", false},
                       {"use_rslora", false},
                       {"use_dora", false},
                       {"inference_mode", true},
                       {"init_lora_weights", true}};
  model::NamedTensors prefixed;
  for (const auto& [name, t] : a.tensors)
    prefixed.push_back({kPrefix + name, Tensor::from_floats(t.to_floats(), t.shape())});
  write_file_atomic((fs::path(dir) / kAdapterConfigFile).string(), config.dump(2) + "\n");
  model::save_safetensors((fs::path(dir) / kAdapterWeightsFile).string(), prefixed);
}

void save_peft_adapter(const std::string& dir, const PeftAdapter& a,
                       const std::string& base_model) {
  write_directory_atomic(
      dir, [&](const std::string& tmp) { write_peft_files(tmp, a, base_model); },
      std::string(kTempDirectoryMarker) + "adapter");
}

PeftAdapter load_peft_adapter(const std::string& dir, const model::LlamaConfig* model) {
  const std::string cpath = (fs::path(dir) / kAdapterConfigFile).string();
  const json c = read_json_file(cpath);
  auto key = [&](const char* k) -> const json& {
    if (!c.is_object() || !c.contains(k)) fail(cpath, ": no key '", k, "'");
    return c.at(k);
  };
  auto refuse_unless = [&](const char* k, const json& allowed, const char* why) {
    if (c.is_object() && c.contains(k) && !c.at(k).is_null() && c.at(k) != allowed)
      fail(cpath, ": key '", k, "' is ", json_excerpt(c.at(k)), ": ", why);
  };
  if (key("peft_type") != "LORA")
    fail(cpath, ": key 'peft_type' is ", json_excerpt(key("peft_type")), ", not \"LORA\"");
  PeftAdapter a;
  if (!key("r").is_number_integer()) fail(cpath, ": key 'r' must be an integer");
  a.config.rank = key("r").get<int64_t>();
  if (!key("lora_alpha").is_number()) fail(cpath, ": key 'lora_alpha' must be a number");
  a.config.alpha = key("lora_alpha").get<double>();
  // PEFT's dropout is a training option: kept for a run that trains on, unused in evaluation.
  if (c.contains("lora_dropout") && !c.at("lora_dropout").is_null()) {
    if (!c.at("lora_dropout").is_number()) fail(cpath, ": key 'lora_dropout' must be a number");
    a.config.dropout = c.at("lora_dropout").get<double>();
  }
  const json& modules = key("target_modules");
  std::string list;
  if (modules.is_string()) {
    list = modules.get<std::string>();
  } else if (modules.is_array()) {
    for (const json& m : modules) {
      if (!m.is_string()) fail(cpath, ": key 'target_modules' holds ", json_excerpt(m));
      list += (list.empty() ? "" : ",") + m.get<std::string>();
    }
  } else {
    fail(cpath, ": key 'target_modules' must be a list of module names");
  }
  try {
    a.config.targets = parse_targets(list);
  } catch (const Error& e) {
    fail(cpath, ": key 'target_modules': ", e.what());
  }
  refuse_unless("bias", "none", "neft's LoRA has no bias");
  refuse_unless("use_dora", false, "DoRA is not implemented");
  refuse_unless("use_rslora", false, "rsLoRA's scaling is not implemented");
  refuse_unless("fan_in_fan_out", false, "Llama's weights are [out, in]");
  for (const char* k : {"rank_pattern", "alpha_pattern", "layers_to_transform", "modules_to_save",
                        "exclude_modules"})
    if (c.contains(k) && !c.at(k).is_null() && !c.at(k).empty())
      fail(cpath, ": key '", k, "' is ", json_excerpt(c.at(k)),
           ": neft's LoRA adapts every layer's targets alike and trains nothing else");
  if (model) {
    try {
      check_config(a.config, *model);
    } catch (const Error& e) {
      fail(cpath, ": ", e.what());
    }
  }

  const std::string wpath = (fs::path(dir) / kAdapterWeightsFile).string();
  if (!fs::exists(wpath)) fail(dir, ": no ", kAdapterWeightsFile);
  const model::SafetensorsFile f(wpath);
  std::map<std::string, Shape> wanted;
  if (model) wanted = adapter_shapes(a.config, *model);
  for (const std::string& name : f.names()) {
    if (!name.starts_with(kPrefix)) fail(wpath, ": tensor '", name, "' is not under ", kPrefix);
    const std::string ours = name.substr(std::string(kPrefix).size());
    const Tensor t = f.read(name, DType::F32);
    if (model) {
      const auto it = wanted.find(ours);
      if (it == wanted.end())
        fail(wpath, ": tensor '", name, "' is not an adapter of this model's targets");
      if (t.shape() != it->second)
        fail(wpath, ": tensor '", name, "' is ", shape_str(t.shape()), "; this model's is ",
             shape_str(it->second));
      wanted.erase(it);
    }
    a.tensors.push_back({ours, t});
  }
  if (!wanted.empty()) fail(wpath, ": no tensor '", kPrefix, wanted.begin()->first, "'");
  return a;
}

void load_adapter_weights(model::LlamaModel& model, const PeftAdapter& a, const std::string& dir) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : a.tensors) by_name[name] = &t;
  for (Parameter* p : lora_parameters(model)) {
    const auto it = by_name.find(p->name);
    if (it == by_name.end()) fail(dir, ": the adapter has no '", kPrefix, p->name, "'");
    if (it->second->shape() != p->full_shape)
      fail(dir, ": '", kPrefix, p->name, "' is ", it->second->str(), ", not ",
           shape_str(p->full_shape));
    const Tensor whole = p->value.dtype() == DType::F32 && p->value.device() == Device::CPU
                             ? *it->second
                             : Tensor::from_floats(it->second->to_floats(), it->second->shape(),
                                                   p->value.dtype(), p->value.device());
    model::copy_shard(whole, *p);
  }
}

void merge_into(model::NamedTensors& weights, const PeftAdapter& a) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : a.tensors) by_name[name] = &t;
  const float scaling = float(a.config.alpha / double(a.config.rank));
  for (auto& [name, w] : weights) {
    if (!name.ends_with(".weight")) continue;
    const auto A = by_name.find(lora_name(name, 'A'));
    if (A == by_name.end()) continue;
    const auto B = by_name.find(lora_name(name, 'B'));
    if (B == by_name.end()) fail("lora merge: the adapter has '", A->first, "' but no lora_B");
    ops::gemm(*B->second, false, *A->second, false, w, scaling, 1.0f);  // W += s B A
  }
}

}  // namespace neft::lora
