#include "model/hf_companion_files.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "runtime/atomic_file.h"
#include "runtime/error.h"

namespace neft::model {

namespace fs = std::filesystem;

const std::vector<std::string>& tokenizer_file_names() {
  static const std::vector<std::string> names = {"tokenizer.json",
                                                 "tokenizer_config.json",
                                                 "special_tokens_map.json",
                                                 "chat_template.jinja",
                                                 "chat_template.json",
                                                 "tokenizer.model",
                                                 "vocab.json",
                                                 "merges.txt",
                                                 "added_tokens.json"};
  return names;
}

std::string companion_source(const std::string& model, const std::string& init) {
  auto has_any = [](const std::string& dir) {
    if (dir.empty() || !fs::is_directory(dir)) return false;
    for (const std::string& f : tokenizer_file_names())
      if (fs::exists(fs::path(dir) / f)) return true;
    return fs::exists(fs::path(dir) / "generation_config.json");
  };
  if (has_any(init)) return init;
  if (has_any(model)) return model;
  return "";
}

void write_companion_files(const std::string& source, const LlamaConfig& config,
                           const std::string& dir) {
  if (!source.empty())
    for (const std::string& f : tokenizer_file_names()) {
      const fs::path from = fs::path(source) / f;
      if (!fs::exists(from)) continue;
      std::error_code ec;
      fs::copy_file(from, fs::path(dir) / f, fs::copy_options::overwrite_existing, ec);
      if (ec) fail("copying ", from.string(), " into ", dir, ": ", ec.message());
    }
  const fs::path gen = fs::path(dir) / "generation_config.json";
  if (!source.empty() && fs::exists(fs::path(source) / "generation_config.json")) {
    std::error_code ec;
    fs::copy_file(fs::path(source) / "generation_config.json", gen,
                  fs::copy_options::overwrite_existing, ec);
    if (ec) fail("copying generation_config.json into ", dir, ": ", ec.message());
    return;
  }
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (config.bos_token_id >= 0) j["bos_token_id"] = config.bos_token_id;
  if (config.eos_token_ids.size() == 1) j["eos_token_id"] = config.eos_token_ids[0];
  if (config.eos_token_ids.size() > 1) j["eos_token_id"] = config.eos_token_ids;
  if (config.pad_token_id >= 0) j["pad_token_id"] = config.pad_token_id;
  if (!j.empty()) write_file_atomic(gen.string(), j.dump(2) + "\n");
}

}  // namespace neft::model
