// The bad-input corpus: every hostile or broken input a user, a crashed job or a corrupted
// disk can hand `neft`, run as its own process. Each case must end with
// - an exit, not a signal (a crash or a stack overflow shows as SIGSEGV here), non-zero;
// - exactly one line on stderr, an error naming the file and the line, key or tensor;
// - no output left behind: the --out it was given does not exist afterwards, and a run
//   directory it was asked to resume is byte for byte as it was.
// A new bad input found anywhere becomes one more row of kCases.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/safetensors.h"
#include "runtime/ops/cast.h"
#include "tests/process/run_process.h"
#include "tests/unit/model/synthetic_gguf.h"
#include "tests/unit/temp_dir.h"

namespace neft::testing {
namespace {

namespace fs = std::filesystem;
using neft::testing::synthetic_gguf;
using nlohmann::json;

// ---- the good inputs every case breaks one thing of ----------------------------------

// Made once for the suite: a trained tiny model (config.json + model.safetensors), a finished
// run with a checkpoint per step, a neuron-level run's neurons and delta, an SFT file.
struct Fixtures {
  fs::path model, run, neurons, delta;
};
Fixtures* fixtures = nullptr;

// A run of a few seconds' work, what every case's command uses; `change` replaces values.
std::vector<std::string> small_run(int steps = 2,
                                   const std::map<std::string, std::string>& change = {}) {
  std::vector<std::string> args{"--steps",         std::to_string(steps),
                                "--micro-batch",   "2",
                                "--seq-len",       "32",
                                "--tasks",         "copy",
                                "--eval-examples", "4"};
  for (size_t i = 0; i + 1 < args.size(); i += 2)
    if (const auto it = change.find(args[i]); it != change.end()) args[i + 1] = it->second;
  return args;
}

// small_run() for sft data: --tasks there keeps only the lines of those tasks, and the cases'
// lines name none.
std::vector<std::string> sft_run() {
  std::vector<std::string> args = small_run();
  const auto t = std::find(args.begin(), args.end(), "--tasks");
  args.erase(t, t + 2);
  return args;
}

std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

void write_file(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

// A copy of the fixture model in `dir`/model.
fs::path copy_model(const fs::path& dir) {
  const fs::path m = dir / "model";
  fs::create_directories(m);
  for (const char* f : {"config.json", "model.safetensors"})
    fs::copy_file(fixtures->model / f, m / f);
  return m;
}

// The fixture's config.json with `key` set to raw JSON text `raw` (any text: it is spliced in).
std::string config_with(const std::string& key, const std::string& raw) {
  json j = json::parse(slurp((fixtures->model / "config.json").string()));
  j[key] = "@RAW@";
  std::string text = j.dump(2);
  text.replace(text.find("\"@RAW@\""), 7, raw);
  return text;
}

// A safetensors file with header text `header` (unpadded) and `data_bytes` zero bytes.
std::string safetensors_bytes(const std::string& header, size_t data_bytes) {
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[size_t(i)] = char(uint64_t(header.size()) >> (8 * i));
  return file + header + std::string(data_bytes, '\0');
}

// Every tensor of a safetensors file, as f32 (the edits below) or as stored.
model::NamedTensors read_all(const fs::path& path) {
  const model::SafetensorsFile f(path.string());
  model::NamedTensors out;
  for (const std::string& name : f.names()) out.push_back({name, f.read(name, f.info(name).dtype)});
  return out;
}

// Rewrites the file with element `index` of tensor `name` (or of the first float tensor when
// `name` is empty) set to `value`, in the tensor's own dtype.
void poison(const fs::path& path, const std::string& name, float value, int64_t index = 3) {
  const model::Metadata metadata = model::SafetensorsFile(path.string()).metadata();
  model::NamedTensors tensors = read_all(path);
  for (auto& [n, t] : tensors) {
    if (!is_floating(t.dtype()) || (!name.empty() && n != name)) continue;
    Tensor f = Tensor::empty(t.shape(), DType::F32);
    ops::cast(t, f);
    f.data<float>()[index] = value;
    ops::cast(f, t);
    break;
  }
  model::save_safetensors(path.string(), tensors, metadata);
}

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// ---- the cases ------------------------------------------------------------------------

struct Case {
  const char* name;
  // Lays out the case's files in `dir` (empty, its own) and returns neft's arguments. What the
  // command would write goes to dir/out.
  std::function<std::vector<std::string>(const fs::path& dir)> make;
  // Substrings of the one error line; "{dir}" stands for the case's directory.
  std::vector<std::string> message;
  // A run directory (relative to dir) the command must leave as it found it.
  std::string preserved = "";
  long memory_limit_kb = 0;
};

std::vector<std::string> train(const fs::path& dir, const fs::path& model,
                               const std::map<std::string, std::string>& change = {}) {
  return cat({"train", "--model", model.string(), "--out", (dir / "out").string()},
             small_run(2, change));
}

// train with LoRA adapters whose dropout is `value`.
std::function<std::vector<std::string>(const fs::path&)> lora_dropout(std::string value) {
  return [value](const fs::path& dir) {
    return cat(train(dir, "tiny"), {"--lora-rank", "4", "--lora-dropout", value});
  };
}

// train --model on a copy of the fixture model whose config.json is the fixture's with `key`
// set to `raw` (made when the case runs: the fixtures do not exist before).
std::function<std::vector<std::string>(const fs::path&)> config_key(std::string key,
                                                                    std::string raw,
                                                                    std::string after = "") {
  return [key, raw, after](const fs::path& dir) {
    const fs::path m = copy_model(dir);
    write_file(m / "config.json", config_with(key, raw) + after);
    return train(dir, m);
  };
}

// train --model on a copy of the fixture model whose config.json is `text`.
std::function<std::vector<std::string>(const fs::path&)> config_json(std::string text) {
  return [text](const fs::path& dir) {
    const fs::path m = copy_model(dir);
    write_file(m / "config.json", text);
    return train(dir, m);
  };
}

// train --model on a copy of the fixture model whose model.safetensors is `bytes`.
std::function<std::vector<std::string>(const fs::path&)> weights_file(std::string bytes) {
  return [bytes](const fs::path& dir) {
    const fs::path m = copy_model(dir);
    write_file(m / "model.safetensors", bytes);
    return train(dir, m);
  };
}

// train --model on a copy of the fixture model with `edit` applied to its weights.
std::function<std::vector<std::string>(const fs::path&)> weights_edit(
    std::function<void(const fs::path& weights)> edit) {
  return [edit](const fs::path& dir) {
    const fs::path m = copy_model(dir);
    edit(m / "model.safetensors");
    return train(dir, m);
  };
}

// The fixture model saved as two shards, its index replaced by `index` unless empty.
std::function<std::vector<std::string>(const fs::path&)> sharded(std::string index) {
  return [index](const fs::path& dir) {
    const fs::path m = copy_model(dir);
    const model::NamedTensors tensors = read_all(m / "model.safetensors");
    fs::remove(m / "model.safetensors");
    model::save_safetensors_sharded(m.string(), tensors, 2 << 20);
    if (!index.empty()) write_file(m / "model.safetensors.index.json", index);
    return train(dir, m);
  };
}

// train on SFT data whose file is `text`.
std::function<std::vector<std::string>(const fs::path&)> sft(std::string text) {
  return [text](const fs::path& dir) {
    write_file(dir / "data.jsonl", text);
    return cat({"train", "--model", "tiny", "--data", "sft:" + (dir / "data.jsonl").string(),
                "--out", (dir / "out").string()},
               sft_run());
  };
}

// train --config on a file with `text`.
std::function<std::vector<std::string>(const fs::path&)> options_file(std::string text) {
  return [text](const fs::path& dir) {
    write_file(dir / "train.ini", text);
    return std::vector<std::string>{"train", "--config", (dir / "train.ini").string(), "--out",
                                    (dir / "out").string()};
  };
}

// A copy of the fixture run in dir/run with `edit` applied to its newest checkpoint, then
// resumed with `extra` arguments.
// resumed with --steps `steps`.
std::function<std::vector<std::string>(const fs::path&)> resume(
    std::function<void(const fs::path& checkpoint)> edit, int steps = 2) {
  return [edit, steps](const fs::path& dir) {
    fs::copy(fixtures->run, dir / "run", fs::copy_options::recursive);
    edit(dir / "run" / "checkpoints" / "step-00000002");
    return cat({"train", "--model", "tiny", "--resume", "--out", (dir / "run").string()},
               small_run(steps));
  };
}

// A checkpoint's index edited by `edit`.
std::function<void(const fs::path&)> checkpoint_index(std::function<void(json&)> edit) {
  return [edit](const fs::path& ckpt) {
    json index = json::parse(slurp((ckpt / "checkpoint_index.json").string()));
    edit(index);
    write_file(ckpt / "checkpoint_index.json", index.dump());
  };
}

std::function<void(const fs::path&)> trainer_state(std::string text) {
  return [text](const fs::path& ckpt) { write_file(ckpt / "trainer_state.json", text); };
}

// A neuron-level run from a neurons file edited by `edit`.
std::function<std::vector<std::string>(const fs::path&)> neurons_file(
    std::function<void(const fs::path&)> edit) {
  return [edit](const fs::path& dir) {
    fs::copy_file(fixtures->neurons, dir / "neurons.safetensors");
    edit(dir / "neurons.safetensors");
    return cat({"train", "--model", "tiny", "--init", fixtures->model.string(), "--neurons",
                (dir / "neurons.safetensors").string(), "--out", (dir / "out").string()},
               small_run());
  };
}

// neft merge of the fixture delta edited by `edit`.
std::function<std::vector<std::string>(const fs::path&)> delta_file(
    std::function<void(const fs::path&)> edit) {
  return [edit](const fs::path& dir) {
    fs::copy_file(fixtures->delta, dir / "delta.safetensors");
    edit(dir / "delta.safetensors");
    return std::vector<std::string>{"merge",
                                    "--base",
                                    fixtures->model.string(),
                                    "--delta",
                                    (dir / "delta.safetensors").string(),
                                    "--out",
                                    (dir / "out").string()};
  };
}

// neft tokenize with dir/tokenizer.json: `text` verbatim, or the shipped GPT-2-style
// fixture with `edit` applied to its JSON.
std::function<std::vector<std::string>(const fs::path&)> tokenizer_json(
    std::function<std::string()> text) {
  return [text](const fs::path& dir) {
    write_file(dir / "tokenizer.json", text());
    return std::vector<std::string>{"tokenize",
                                    "--tokenizer",
                                    (dir / "tokenizer.json").string(),
                                    "--text",
                                    "Hello <|endoftext|> world",
                                    "--out",
                                    (dir / "out").string()};
  };
}
std::function<std::string()> edited_tokenizer(std::function<void(json&)> edit) {
  return [edit] {
    json j = json::parse(
        slurp(std::string(NEFT_SOURCE_DIR) + "/tests/golden/tokenizers/gpt2/tokenizer.json"));
    edit(j);
    return j.dump();
  };
}
std::function<std::string()> verbatim(std::string text) {
  return [text] { return text; };
}
// neft tokenize with the fixture tokenizer on `args` (after --tokenizer), dir/text.txt holding
// `input`.
std::function<std::vector<std::string>(const fs::path&)> tokenize(std::vector<std::string> args,
                                                                  std::string input = "") {
  return [args, input](const fs::path& dir) {
    write_file(dir / "text.txt", input);
    std::vector<std::string> a{"tokenize", "--tokenizer",
                               std::string(NEFT_SOURCE_DIR) + "/tests/golden/tokenizers/gpt2",
                               "--out", (dir / "out").string()};
    for (const std::string& x : args) a.push_back(x == "{text}" ? (dir / "text.txt").string() : x);
    return a;
  };
}

// neft import-gguf of dir/model.gguf holding `bytes()`.
std::function<std::vector<std::string>(const fs::path&)> gguf_file(
    std::function<std::string()> bytes) {
  return [bytes](const fs::path& dir) {
    write_file(dir / "model.gguf", bytes());
    return std::vector<std::string>{"import-gguf", (dir / "model.gguf").string(), "--out",
                                    (dir / "out").string()};
  };
}

// train on one conversation (dir/data.jsonl) with a copy of the fixture model that reads
// text: dir/model holds `tokenizer` as tokenizer.json and `tokenizer_config` as
// tokenizer_config.json.
std::function<std::vector<std::string>(const fs::path&)> text_model(
    std::function<std::string()> tokenizer, std::string tokenizer_config) {
  return [tokenizer, tokenizer_config](const fs::path& dir) {
    const fs::path m = copy_model(dir);
    write_file(m / "tokenizer.json", tokenizer());
    write_file(m / "tokenizer_config.json", tokenizer_config);
    write_file(dir / "data.jsonl", R"({"messages": [{"role": "user", "content": "hi"}, )"
                                   R"({"role": "assistant", "content": "hello"}]})"
                                   "\n");
    return cat({"train", "--model", m.string(), "--data", "sft:" + (dir / "data.jsonl").string(),
                "--out", (dir / "out").string()},
               sft_run());
  };
}

std::function<void(const fs::path&)> replace_with(std::string bytes) {
  return [bytes](const fs::path& p) { write_file(p, bytes); };
}

const std::string kDeep(100000, '[');
const std::string kGoodLine = R"({"prompt": [1, 2], "response": [3]})";

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      // config.json
      {"ConfigDeeplyNestedArrays",
       config_json(kDeep),
       {"{dir}/model/config.json:1: nested deeper than 64"}},
      {"ConfigDeeplyNestedObjects",
       config_json(std::string(100000, '{')),
       {"{dir}/model/config.json:1: nested deeper"}},
      {"ConfigRopeScalingDeep",
       config_key("rope_scaling", kDeep),
       {"{dir}/model/config.json:", "nested deeper"}},
      {"ConfigNumberBeyondDouble",
       config_key("rope_theta", "1e999"),
       {"{dir}/model/config.json:", "key 'rope_theta': number 1e999 is beyond"}},
      {"ConfigNumberBeyondDoubleUpper",
       config_key("rms_norm_eps", "33E334"),
       {"{dir}/model/config.json:", "key 'rms_norm_eps': number 33E334"}},
      {"ConfigNegativeNumberBeyondDouble",
       config_key("hidden_size", "-1e999"),
       {"{dir}/model/config.json:", "key 'hidden_size'"}},
      {"ConfigNulByte",
       config_json(std::string("{\"hidden_size\":\0 64}", 20)),
       {"{dir}/model/config.json:1: NUL byte"}},
      {"ConfigNulThenJunk",
       config_key("hidden_size", "128", std::string("\0junk", 5)),
       {"{dir}/model/config.json:", "NUL byte"}},
      {"ConfigDuplicateKey",
       config_json(R"({"hidden_size": 64, "hidden_size": 128})"),
       {"{dir}/model/config.json", "duplicate key 'hidden_size'"}},
      {"ConfigSyntaxError",
       config_json("{\n\"hidden_size\" 64\n}"),
       {"{dir}/model/config.json:2:", "invalid JSON"}},
      {"ConfigEmpty", config_json(""), {"{dir}/model/config.json:1:", "invalid JSON"}},
      {"ConfigTopLevelArray",
       config_json("[1, 2]"),
       {"{dir}/model/config.json", "expected a JSON object"}},
      {"ConfigIllFormedUtf8",
       config_key("model_type", "\"ll\xff\xfe\""),
       {"{dir}/model/config.json:", "invalid JSON"}},
      {"ConfigHiddenSizeString",
       config_key("hidden_size", "\"big\""),
       {"{dir}/model/config.json", "'hidden_size'"}},
      {"ConfigHiddenSizeNegative",
       config_key("hidden_size", "-64"),
       {"{dir}/model/config.json", "hidden_size"}},
      {"ConfigVocabZero", config_key("vocab_size", "0"), {"{dir}/model/config.json", "vocab_size"}},
      {"ConfigHeadsDoNotDivide",
       config_key("num_attention_heads", "3"),
       {"{dir}/model/config.json", "num_attention_heads"}},
      {"ConfigMaxPositionsBeyondDouble",
       config_key("max_position_embeddings", "9e999"),
       {"{dir}/model/config.json:", "key 'max_position_embeddings'"}},
      {"ConfigRopeScalingUnsupported",
       config_key("rope_scaling", R"({"rope_type": "yarn", "factor": 4})"),
       {"{dir}/model/config.json", "rope_scaling"}},
      {"ConfigIsADirectory",
       [](const fs::path& dir) {
         const fs::path m = copy_model(dir);
         fs::remove(m / "config.json");
         fs::create_directory(m / "config.json");
         return train(dir, m);
       },
       {"{dir}/model/config.json", "not a regular file"}},
      {"ConfigDanglingLink",
       [](const fs::path& dir) {
         const fs::path m = copy_model(dir);
         fs::remove(m / "config.json");
         fs::create_symlink("../../elsewhere/config.json", m / "config.json");
         return train(dir, m);
       },
       {"{dir}/model/config.json", "symbolic link to '../../elsewhere/config.json'"}},

      // model.safetensors
      {"WeightsHeaderDeeplyNested",
       weights_file(safetensors_bytes(kDeep, 0)),
       {"{dir}/model/model.safetensors:1: nested deeper"}},
      {"WeightsEntryDeeplyNested",
       weights_file(safetensors_bytes(
           R"({"a":{"dtype":"F32","shape":)" + std::string(5000, '[') + "]}}", 0)),
       {"{dir}/model/model.safetensors:1: nested deeper"}},
      {"WeightsHeaderPaddedWithNul",
       weights_file(safetensors_bytes(std::string("{}\0\0\0\0\0\0", 8), 0)),
       {"{dir}/model/model.safetensors:1: NUL byte"}},
      {"WeightsHeaderNulThenJunk",
       weights_file(safetensors_bytes(std::string("{}\0junk!", 8), 0)),
       {"{dir}/model/model.safetensors:1: NUL byte"}},
      {"WeightsOffsetBeyondDouble",
       weights_file(
           safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,1e999]}})", 8)),
       {"{dir}/model/model.safetensors:1: key 'a.data_offsets': number 1e999"}},
      {"WeightsHeaderNotAnObject",
       weights_file(safetensors_bytes("[1,2]", 0)),
       {"{dir}/model/model.safetensors", "not a JSON object"}},
      {"WeightsHeaderDuplicateTensor",
       weights_file(safetensors_bytes(
           R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
           8)),
       {"{dir}/model/model.safetensors", "duplicate key 'a'"}},
      {"WeightsShorterThanItsLength",
       weights_file("\x05\x00\x00"),
       {"{dir}/model/model.safetensors", "not a safetensors file"}},
      {"WeightsImplausibleHeaderLength",
       weights_file(std::string("\xff\xff\xff\xff\xff\x00\x00\x00{}", 10)),
       {"{dir}/model/model.safetensors", "implausible"}},
      {"WeightsTruncated",
       weights_edit([](const fs::path& w) {
         const std::string bytes = slurp(w.string());
         write_file(w, bytes.substr(0, bytes.size() / 2));
       }),
       {"{dir}/model/model.safetensors", "truncated"}},
      {"WeightsOverlappingTensors",
       weights_file(safetensors_bytes(
           R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
           24)),
       {"{dir}/model/model.safetensors", "overlap"}},
      {"WeightsUnknownDtype",
       weights_file(
           safetensors_bytes(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})", 16)),
       {"{dir}/model/model.safetensors", "tensor 'a' has unsupported dtype"}},
      {"WeightsNaN",
       weights_edit(
           [](const fs::path& w) { poison(w, "model.layers.1.mlp.up_proj.weight", kNaN); }),
       {"{dir}/model/model.safetensors",
        "tensor 'model.layers.1.mlp.up_proj.weight' holds a NaN or Inf"}},
      {"WeightsInf",
       weights_edit([](const fs::path& w) { poison(w, "model.norm.weight", kInf, 5); }),
       {"{dir}/model/model.safetensors",
        "tensor 'model.norm.weight' holds a NaN or Inf (element 5"}},
      {"WeightsMinusInf",
       weights_edit([](const fs::path& w) { poison(w, "model.embed_tokens.weight", -kInf, 1000); }),
       {"{dir}/model/model.safetensors", "'model.embed_tokens.weight' holds a NaN or Inf"}},
      {"WeightsUnknownTensor",
       weights_edit([](const fs::path& w) {
         model::NamedTensors t = read_all(w);
         t.push_back({"model.layers.0.mlp.expert_gate.weight", Tensor::zeros({2, 2}, DType::F32)});
         model::save_safetensors(w.string(), t);
       }),
       {"{dir}/model/model.safetensors",
        "tensor 'model.layers.0.mlp.expert_gate.weight' is not a weight of"}},
      {"WeightsMissingTensor",
       weights_edit([](const fs::path& w) {
         model::NamedTensors t = read_all(w);
         t.erase(t.begin() + 1);
         model::save_safetensors(w.string(), t);
       }),
       {"{dir}/model: no tensor '"}},
      {"WeightsWrongShape",
       weights_edit([](const fs::path& w) {
         model::NamedTensors t = read_all(w);
         for (auto& [n, v] : t)
           if (n == "model.norm.weight") v = Tensor::zeros({7}, DType::F32);
         model::save_safetensors(w.string(), t);
       }),
       {"{dir}/model/model.safetensors", "model.norm.weight"}},
      {"WeightsDanglingLink",
       [](const fs::path& dir) {
         const fs::path m = copy_model(dir);
         fs::remove(m / "model.safetensors");
         fs::create_symlink("../../blobs/5d1e", m / "model.safetensors");
         return train(dir, m);
       },
       {"{dir}/model/model.safetensors: it is a symbolic link to '../../blobs/5d1e'",
        "does not exist"}},
      {"WeightsIsADirectory",
       [](const fs::path& dir) {
         const fs::path m = copy_model(dir);
         fs::remove(m / "model.safetensors");
         fs::create_directory(m / "model.safetensors");
         return train(dir, m);
       },
       {"{dir}/model/model.safetensors", "not a regular file"}},
      {"WeightsInBothLayouts",
       [](const fs::path& dir) {
         const fs::path m = copy_model(dir);
         write_file(m / "model.safetensors.index.json", R"({"weight_map": {}})");
         return train(dir, m);
       },
       {"{dir}/model", "ambiguous"}},

      // model.safetensors.index.json
      {"IndexDeeplyNested",
       sharded(R"({"weight_map": )" + kDeep),
       {"{dir}/model/model.safetensors.index.json:1: nested deeper"}},
      {"IndexNumberBeyondDouble",
       sharded("{\"metadata\": {\"total_size\": 1e999},\n \"weight_map\": {}}"),
       {"{dir}/model/model.safetensors.index.json:1: key 'metadata.total_size': number 1e999"}},
      {"IndexNulByte",
       sharded(std::string("{\"weight_map\": {}}\0", 19)),
       {"{dir}/model/model.safetensors.index.json:1: NUL byte"}},
      {"IndexWeightMapNotAnObject",
       sharded(R"({"weight_map": [1]})"),
       {"{dir}/model/model.safetensors.index.json", "weight_map"}},
      {"IndexEntryNotAString",
       sharded(R"({"weight_map": {"model.norm.weight": 3}})"),
       {"{dir}/model/model.safetensors.index.json", "weight_map entry for 'model.norm.weight'"}},
      {"IndexMissingShard",
       sharded(R"({"weight_map": {"model.norm.weight": "model-00009-of-00009.safetensors"}})"),
       {"{dir}/model/model.safetensors.index.json",
        "shard model-00009-of-00009.safetensors not found"}},
      {"IndexTensorNotInShard",
       sharded(R"({"weight_map": {"model.no_such.weight": "model-00001-of-00002.safetensors"}})"),
       {"{dir}/model/model.safetensors.index.json", "tensor 'model.no_such.weight'"}},

      // SFT JSONL
      {"SftDeeplyNestedLine",
       sft(kGoodLine + "\n" + kDeep + "\n"),
       {"{dir}/data.jsonl:2: nested deeper"}},
      {"SftNulByteInLine",
       sft(kGoodLine + "\n" + std::string("{\"prompt\": [1],\0 \"response\": [2]}\n", 34)),
       {"{dir}/data.jsonl:2: NUL byte"}},
      {"SftNumberBeyondDouble",
       sft(kGoodLine + "\n" + kGoodLine + "\n{\"prompt\": [1], \"response\": [1e999]}\n"),
       {"{dir}/data.jsonl:3: key 'response': number 1e999"}},
      {"SftNumberBeyondDoubleUpper",
       sft("{\"prompt\": [33E334], \"response\": [1]}\n"),
       {"{dir}/data.jsonl:1: key 'prompt': number 33E334"}},
      {"SftNotAnObject", sft("[1, 2]\n"), {"{dir}/data.jsonl:1:", "expected a JSON object"}},
      {"SftNoKnownFormat",
       sft(R"({"response": [2]})"),
       {"{dir}/data.jsonl:1:", "expected \"messages\", \"prompt\" and \"completion\", \"text\""}},
      {"SftTokenOutsideVocab",
       sft(R"({"prompt": [1], "response": [99999]})"),
       {"{dir}/data.jsonl:1:", "\"response\"[0] = 99999 is outside"}},
      {"SftNegativeToken",
       sft(R"({"prompt": [-1], "response": [2]})"),
       {"{dir}/data.jsonl:1:", "\"prompt\"[0] = -1"}},
      {"SftFractionalToken",
       sft(R"({"prompt": [1.5], "response": [2]})"),
       {"{dir}/data.jsonl:1:", "not an integer"}},
      {"SftEmptyResponse",
       sft(R"({"prompt": [1], "response": []})"),
       {"{dir}/data.jsonl:1:", "\"response\" is empty"}},
      {"SftSyntaxError",
       sft(kGoodLine + "\n{\"prompt\": [1]\n"),
       {"{dir}/data.jsonl:2:", "invalid JSON"}},
      {"SftEmptyFile", sft(""), {"{dir}/data.jsonl", "no examples"}},
      {"SftDeepTask",
       sft(R"({"prompt": [1], "response": [2], "task": )" + kDeep + "}\n"),
       {"{dir}/data.jsonl:1: nested deeper"}},
      {"SftMissingFile",
       [](const fs::path& dir) {
         return cat({"train", "--data", "sft:" + (dir / "none.jsonl").string(), "--out",
                     (dir / "out").string()},
                    small_run());
       },
       {"{dir}/none.jsonl", "cannot open"}},

      // --config (options file)
      {"OptionsFileIsADirectory",
       [](const fs::path& dir) {
         fs::create_directory(dir / "conf.d");
         return std::vector<std::string>{"train", "--config", (dir / "conf.d").string(), "--out",
                                         (dir / "out").string()};
       },
       {"config file '{dir}/conf.d' is a directory"}},
      {"OptionsFileIsDevZero",
       [](const fs::path& dir) {
         return std::vector<std::string>{"train", "--config", "/dev/zero", "--out",
                                         (dir / "out").string()};
       },
       {"config file '/dev/zero' is not a regular file"}},
      {"OptionsFileNulByte",
       options_file(std::string("steps = 2\nlr = 0.1\0\n", 20)),
       {"{dir}/train.ini:2: NUL byte"}},
      {"OptionsFileUnknownKey",
       options_file("steps = 2\nlearning_rate = 0.1\n"),
       {"{dir}/train.ini:2:", "unknown key 'learning_rate'"}},
      {"OptionsFileBadLine",
       options_file("steps 2\n"),
       {"{dir}/train.ini:1:", "expected `name = value`"}},
      {"OptionsFileBadValue", options_file("steps = many\n"), {"{dir}/train.ini:1:", "steps"}},
      {"OptionsFileHuge",
       options_file(std::string(2 << 20, '#')),
       {"config file '{dir}/train.ini' is 2097152 bytes"}},

      // refused before anything is written
      {"SeqLenBeyondMaxPositions",
       [](const fs::path& dir) {
         return train(dir, "tiny", {{"--seq-len", "100000"}});
       },
       {"--seq-len 100000 exceeds max_position_embeddings"}},
      {"FinetuneSeqLenBeyondMaxPositions",
       [](const fs::path& dir) {
         return cat({"finetune", "--out", (dir / "out").string()},
                    small_run(2, {{"--seq-len", "100000"}}));
       },
       {"--seq-len 100000 exceeds max_position_embeddings"}},
      {"FinetuneBudgetSelectsNothing",
       [](const fs::path& dir) {
         return cat({"finetune", "--budget", "0", "--out", (dir / "out").string()}, small_run());
       },
       {"budget 0", "selects no neuron"}},
      {"FinetuneBudgetBelowOneNeuron",
       [](const fs::path& dir) {
         return cat({"finetune", "--budget", "0.0001%", "--out", (dir / "out").string()},
                    small_run());
       },
       {"budget 0.0001%", "selects no neuron"}},
      {"MicroBatchExhaustsMemory",
       [](const fs::path& dir) {
         return train(dir, "tiny", {{"--micro-batch", "300000"}});
       },
       {"out of host memory", "--micro-batch"},
       "",
       3000000},
      {"FinetuneMicroBatchExhaustsMemory",
       [](const fs::path& dir) {
         return cat({"finetune", "--out", (dir / "out").string()},
                    small_run(2, {{"--micro-batch", "300000"}}));
       },
       {"out of host memory", "--micro-batch"},
       "",
       3000000},

      // LoRA's dropout is a probability below 1
      {"LoraDropoutOne", lora_dropout("1"), {"--lora-dropout", "less than 1"}},
      {"LoraDropoutNegative", lora_dropout("-0.1"), {"--lora-dropout", "at least 0"}},
      {"LoraDropoutNaN", lora_dropout("nan"), {"--lora-dropout", "finite"}},

      // resume: refused, and the run left as it was
      {"ResumeNegativeStep",
       resume(trainer_state(R"({"step": -3, "optimizer_steps": 2, "data": {}})")),
       {"{dir}/run/checkpoints/step-00000002/trainer_state.json", "key 'step' is negative"},
       "run"},
      {"ResumeStepBeyondSteps",
       resume([](const fs::path&) {}, 1),
       {"{dir}/run/checkpoints/step-00000002/trainer_state.json", "at step 2, beyond --steps 1"},
       "run"},
      {"ResumeStepNotItsDirectory",
       resume(trainer_state(R"({"step": 1, "optimizer_steps": 1, "data": {}})")),
       {"{dir}/run/checkpoints/step-00000002/trainer_state.json",
        "key 'step' is 1 but the directory is step-00000002"},
       "run"},
      {"ResumeStateDeeplyNested",
       resume(trainer_state(kDeep)),
       {"{dir}/run/checkpoints/step-00000002/trainer_state.json:1: nested deeper"},
       "run"},
      {"ResumeStateNumberBeyondDouble",
       resume(trainer_state(R"({"step": 2e999})")),
       {"{dir}/run/checkpoints/step-00000002/trainer_state.json:1: key 'step': number 2e999"},
       "run"},
      {"ResumeStateNulByte",
       resume(trainer_state(std::string("{\"step\": 2}\0", 12))),
       {"{dir}/run/checkpoints/step-00000002/trainer_state.json:1: NUL byte"},
       "run"},
      {"ResumeStateStepNotAnInteger",
       resume(trainer_state(R"({"step": "two", "optimizer_steps": 2, "data": {}})")),
       {"{dir}/run/checkpoints/step-00000002/trainer_state.json", "key 'step' must be an integer"},
       "run"},
      {"ResumeCheckpointWeightsNaN",
       resume([](const fs::path& c) {
         poison(c / "rank-00000.safetensors", "model.layers.0.self_attn.q_proj.weight", kNaN);
       }),
       {"{dir}/run/checkpoints/step-00000002/rank-00000.safetensors",
        "'model.layers.0.self_attn.q_proj.weight' holds a NaN"},
       "run"},
      {"ResumeOptimizerStateInf",
       resume([](const fs::path& c) {
         poison(c / "rank-00000.safetensors", "model.norm.weight.exp_avg_sq", kInf, 0);
       }),
       {"{dir}/run/checkpoints/step-00000002/rank-00000.safetensors",
        "'model.norm.weight.exp_avg_sq' holds a NaN or Inf"},
       "run"},
      {"ResumeRankFileMissing",
       resume([](const fs::path& c) { fs::remove(c / "rank-00000.safetensors"); }),
       {"{dir}/run/checkpoints/step-00000002/rank-00000.safetensors", "cannot open"},
       "run"},
      {"ResumeIndexNotJson",
       resume([](const fs::path& c) { write_file(c / "checkpoint_index.json", "{\"format\": "); }),
       {"{dir}/run/checkpoints/step-00000002/checkpoint_index.json:1"},
       "run"},
      {"ResumeIndexMissing",
       resume([](const fs::path& c) { fs::remove(c / "checkpoint_index.json"); }),
       {"{dir}/run/checkpoints/step-00000002: no checkpoint_index.json"},
       "run"},
      {"ResumeIndexFileOutsideTheCheckpoint",
       resume(checkpoint_index([](json& index) {
         index["tensors"]["model.norm.weight"]["slices"][0]["file"] = "../../model/x.safetensors";
       })),
       {"{dir}/run/checkpoints/step-00000002/checkpoint_index.json",
        "tensor 'model.norm.weight': \"file\" must name a rank file"},
       "run"},
      {"ResumeIndexDtypeNotAString",
       resume(checkpoint_index([](json& index) {
         index["tensors"]["model.norm.weight"]["dtype"] = json::array({"f32"});
       })),
       {"{dir}/run/checkpoints/step-00000002/checkpoint_index.json",
        "tensor 'model.norm.weight': unknown dtype [\"f32\"]"},
       "run"},
      {"ResumeIndexLacksATrainedTensor",
       resume(checkpoint_index([](json& index) { index["tensors"].erase("model.norm.weight"); })),
       {"{dir}/run/checkpoints/step-00000002: parameter 'model.norm.weight' trains in this run "
        "but is not in the checkpoint"},
       "run"},
      {"ResumeIndexSliceOutsideTheTensor",
       resume(checkpoint_index([](json& index) {
         index["tensors"]["model.norm.weight"]["slices"][0]["offset"] = {5};
       })),
       {"{dir}/run/checkpoints/step-00000002/rank-00000.safetensors",
        "'model.norm.weight' of shape [128] at offset [5] does not fit the whole [128]"},
       "run"},
      {"OutHoldsARunWithoutResume",
       [](const fs::path& dir) {
         fs::copy(fixtures->run, dir / "run", fs::copy_options::recursive);
         return cat({"train", "--model", "tiny", "--out", (dir / "run").string()}, small_run());
       },
       {"--out {dir}/run already holds a run", "--resume"},
       "run"},

      // neuron sets and deltas
      {"NeuronsHeaderDeeplyNested",
       neurons_file(replace_with(safetensors_bytes(kDeep, 0))),
       {"{dir}/neurons.safetensors:1: nested deeper"}},
      {"NeuronsNumberBeyondDouble",
       neurons_file(replace_with(safetensors_bytes(
           R"({"ids":{"dtype":"I64","shape":[1e999],"data_offsets":[0,8]}})", 8))),
       {"{dir}/neurons.safetensors:1: key 'ids.shape': number 1e999"}},
      {"NeuronsNulPadding",
       neurons_file(replace_with(safetensors_bytes(std::string("{}\0\0\0\0\0\0", 8), 0))),
       {"{dir}/neurons.safetensors:1: NUL byte"}},
      {"NeuronsScoreNaN",
       neurons_file([](const fs::path& p) { poison(p, "scores", kNaN, 0); }),
       {"{dir}/neurons.safetensors", "tensor 'scores' holds a NaN"}},
      {"DeltaRowsNaN",
       delta_file([](const fs::path& p) { poison(p, "", kNaN, 2); }),
       {"{dir}/delta.safetensors", "holds a NaN or Inf"}},
      {"DeltaHeaderDeeplyNested",
       delta_file(replace_with(safetensors_bytes(kDeep, 0))),
       {"{dir}/delta.safetensors:1: nested deeper"}},
      {"DeltaNumberBeyondDouble",
       delta_file(replace_with(safetensors_bytes(
           R"({"__metadata__":{"format":"neft-delta"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8e999]}})",
           8))),
       {"{dir}/delta.safetensors:1: key 'a.data_offsets': number 8e999"}},
      {"DeltaTruncated",
       delta_file([](const fs::path& p) {
         const std::string bytes = slurp(p.string());
         write_file(p, bytes.substr(0, bytes.size() - 5));
       }),
       {"{dir}/delta.safetensors", "truncated"}},
      // tokenizer.json, and the text and ids given to neft tokenize
      {"TokenizerNotJson", tokenizer_json(verbatim("{\"model\": ")), {"{dir}/tokenizer.json:1"}},
      {"TokenizerDeeplyNested",
       tokenizer_json(verbatim(kDeep)),
       {"{dir}/tokenizer.json:1: nested deeper than 64"}},
      {"TokenizerUnigramModel",
       tokenizer_json(edited_tokenizer([](json& j) { j["model"]["type"] = "Unigram"; })),
       {"{dir}/tokenizer.json: key 'model': model type 'Unigram' is not supported"}},
      {"TokenizerMergeOfUnknownToken",
       tokenizer_json(edited_tokenizer([](json& j) {
         j["model"]["merges"][3] = {"zz", "qq"};
       })),
       {"{dir}/tokenizer.json: key 'model.merges[3]'", "'zz', which is not in the vocab"}},
      {"TokenizerVocabIdNotANumber",
       tokenizer_json(edited_tokenizer([](json& j) { j["model"]["vocab"]["a"] = "seven"; })),
       {"{dir}/tokenizer.json: key 'model.vocab.a': expected a token id"}},
      {"TokenizerIdFarPastTheVocab",
       tokenizer_json(edited_tokenizer([](json& j) { j["model"]["vocab"]["a"] = 2000000000; })),
       {"{dir}/tokenizer.json: key 'model.vocab.a': id 2000000000 is far past the"}},
      {"TokenizerUnknownPreTokenizer",
       tokenizer_json(edited_tokenizer([](json& j) { j["pre_tokenizer"]["type"] = "Punctuator"; })),
       {"{dir}/tokenizer.json: key 'pre_tokenizer.type': pre-tokenizer 'Punctuator' is not "
        "supported"}},
      {"TokenizerRegexDoesNotCompile",
       tokenizer_json(edited_tokenizer([](json& j) {
         j["pre_tokenizer"] = {{"type", "Split"},
                               {"pattern", {{"Regex", "(\\p{L}+"}}},
                               {"behavior", "Isolated"},
                               {"invert", false}};
       })),
       {"{dir}/tokenizer.json: key 'pre_tokenizer.pattern'", "does not compile"}},
      {"TokenizerAddedTokenWithoutId",
       tokenizer_json(edited_tokenizer([](json& j) { j["added_tokens"][0].erase("id"); })),
       {"{dir}/tokenizer.json: key 'added_tokens[0].id' is missing"}},
      // a text model's tokenizer files, met by the conversations of an sft file
      {"TextModelTokenizerNotJson",
       text_model(verbatim("{\"model\": "), R"({"chat_template": "x"})"),
       {"{dir}/model/tokenizer.json:1"}},
      {"TextModelUnknownChatTemplate",
       text_model(edited_tokenizer([](json&) {}),
                  R"({"chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"})"),
       {"{dir}/data.jsonl:1:", "{dir}/model/tokenizer_config.json: chat template not recognised",
        "neft renders ChatML"}},
      // GGUF files
      {"GgufUnsupportedType",
       gguf_file([] { return synthetic_gguf(14).bytes; }),
       {"{dir}/model.gguf: tensor 'blk.0.attn_q.weight' is Q6_K, which is not read"}},
      {"GgufTensorTruncated",
       gguf_file([] {
         const std::string b = synthetic_gguf().bytes;
         return b.substr(0, b.size() - 64);
       }),
       {"{dir}/model.gguf: tensor 'output.weight'", "runs past the end of the file: truncated"}},
      {"GgufNotGguf",
       gguf_file([] { return std::string("PK\x03\x04 a zip file"); }),
       {"{dir}/model.gguf: not a GGUF file"}},
      {"GgufArrayLengthBeyondFile",
       gguf_file([] {
         std::string b = synthetic_gguf().bytes;
         // The first key's value is a string: make its length absurd.
         const size_t at = 4 + 4 + 8 + 8 + 8 + std::string("general.architecture").size() + 4;
         for (size_t k = 0; k < 8; ++k) b[at + k] = char(0x7f);
         return b;
       }),
       {"{dir}/model.gguf: truncated at byte"}},
      {"GgufStringNotUtf8",
       gguf_file([] {
         std::string b = synthetic_gguf().bytes;
         b[b.find("llama")] = char(0xff);  // general.architecture's value
         return b;
       }),
       {"{dir}/model.gguf: a string at byte", "is not UTF-8"}},
      {"TokenizeInputNotUtf8",
       tokenize({"--input", "{text}"}, "fine\nnot \xff utf-8\n"),
       {"{dir}/text.txt:2", "not UTF-8 (byte 4 is 0xff)"}},
      {"TokenizeDecodeNotAnId",
       tokenize({"--decode", "--text", "12 x7"}),
       {"--text: 'x7' is not a token id"}},
      {"TokenizeDecodeIdOutsideVocab",
       tokenize({"--decode", "--text", "12 99999"}),
       {"token id 99999 is not in the vocabulary"}},
  };
  return all;
}

// ---- the check --------------------------------------------------------------------------

// Every file under `dir`, with its bytes.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    files[fs::relative(e.path(), dir).string()] =
        e.is_regular_file() ? slurp(e.path().string()) : std::string("<dir>");
  return files;
}

std::string with_dir(std::string s, const fs::path& dir) {
  for (size_t at; (at = s.find("{dir}")) != std::string::npos;) s.replace(at, 5, dir.string());
  return s;
}

void make_fixture_runs(const fs::path& root);

// Runs the commands a user would run to get a model, a run, a neuron set and a delta, once
// for all the cases (each runs as its own process under ctest): into the build tree, under a
// lock, again whenever the neft binary is newer than what made them.
void make_fixtures() {
  fixtures = new Fixtures;
  const fs::path root = NEFT_FIXTURE_DIR;
  fs::create_directories(root.parent_path());
  const int lock = ::open((root.string() + ".lock").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(lock, 0);
  ::flock(lock, LOCK_EX);
  fixtures->model = root / "base" / "model";
  fixtures->run = root / "base";
  fixtures->neurons = root / "ft" / "neurons.safetensors";
  fixtures->delta = root / "ft" / "delta.safetensors";
  const std::string stamp =
      std::to_string(fs::last_write_time(NEFT_BINARY).time_since_epoch().count());
  if (slurp((root / "complete").string()) != stamp) {
    fs::remove_all(root);
    fs::create_directories(root);
    make_fixture_runs(root);
    if (!::testing::Test::HasFatalFailure()) write_file(root / "complete", stamp);
  }
  ::flock(lock, LOCK_UN);
  ::close(lock);
}

void make_fixture_runs(const fs::path& root) {
  const auto must = [&](const std::vector<std::string>& args) {
    const ProcessResult r = run_neft_process(args, root.string());
    ASSERT_TRUE(r.exited && r.status == 0) << r.err;
  };
  must(cat({"train", "--model", "tiny", "--save-every", "1", "--keep-checkpoints", "0", "--out",
            (root / "base").string()},
           small_run()));
  must(cat({"finetune", "--model", "tiny", "--init", fixtures->model.string(), "--scorer",
            "magnitude", "--budget", "5%", "--out", (root / "ft").string()},
           small_run()));
}

class BadInput : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() { make_fixtures(); }
  static void TearDownTestSuite() {
    delete fixtures;
    fixtures = nullptr;
  }
};

TEST(BadInputCorpus, HasAtLeastSixtyCases) { EXPECT_GE(cases().size(), 60u); }

TEST_P(BadInput, OneLineNamingTheProblemNoSignalNoOutput) {
  ASSERT_NE(fixtures, nullptr);
  const Case& c = GetParam();
  TempDir tmp;
  const fs::path dir = tmp.path();
  const std::vector<std::string> args = c.make(dir);
  const fs::path preserved = c.preserved.empty() ? fs::path() : dir / c.preserved;
  const auto before = snapshot(preserved);
  const ProcessResult r = run_neft_process(args, dir.string(), {}, c.memory_limit_kb);

  ASSERT_TRUE(r.exited) << "ended by signal " << r.status << "; stderr: " << r.err;
  EXPECT_NE(r.status, 0);
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line:\n" << r.err;
  EXPECT_THAT(r.err, ::testing::HasSubstr(": error: "));
  for (const std::string& part : c.message)
    EXPECT_THAT(r.err, ::testing::HasSubstr(with_dir(part, dir)));
  EXPECT_FALSE(fs::exists(dir / "out")) << "a refused run left its --out behind";
  if (!c.preserved.empty()) {
    EXPECT_TRUE(snapshot(preserved) == before) << preserved << " changed";
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadInput, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace neft::testing
