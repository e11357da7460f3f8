#include "launch/generate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "data/text_example.h"
#include "launch/options.h"
#include "model/hf_companion_files.h"
#include "neuron/delta.h"
#include "runtime/atomic_file.h"
#include "runtime/error.h"
#include "runtime/json_file.h"
#include "runtime/text.h"
#include "train/generation.h"
#include "train/model_setup.h"
#include "train/parallel_job.h"
#include "train/progress.h"

namespace neft::launch {

namespace {

using G = OptionGroup;

std::unique_ptr<CommandOptions> generate_command_options(GenerateOptions& o) {
  auto table = std::make_unique<CommandOptions>(
      "generate",
      "Generates text with a model: a Hugging Face Llama directory (from `neft train`, `neft "
      "merge`, `neft import-gguf` or transformers) with its tokenizer.json, optionally with a "
      "neuron-level run's --delta. One --prompt is streamed to standard output as it is "
      "generated; an --input JSONL ({\"prompt\": \"...\"} or {\"messages\": [...]} per line) "
      "is answered line by line into a JSONL (the input's fields plus \"completion\"). Greedy by "
      "default (as transformers' generate), or sampled with --temperature, --top-k, --top-p "
      "and --seed. Stops at the model's eos tokens (generation_config.json, config.json) or "
      "after --max-new-tokens. Under mpirun, --tp N splits the model over N ranks.");
  CommandOptions& t = *table;
  t.add(G::model, "model", &o.model, "model directory (config.json, weights, tokenizer.json)")
      .value_name("DIR")
      .not_empty();
  add_model_options(t, &o.init, &o.device, &o.dtype);
  t.add(G::model, "delta", &o.delta,
        "a sparse delta of a neuron-level run (`neft train --neurons`) applied to the weights "
        "first; empty: none")
      .value_name("FILE");
  t.add(G::data, "prompt", &o.prompt, "the prompt to continue (streamed to standard output)")
      .value_name("TEXT");
  t.add(G::data, "input", &o.input,
        "a JSONL file, one {\"prompt\": \"...\"} or {\"messages\": [...]} per line")
      .value_name("FILE");
  t.add(G::data, "chat", &o.chat,
        "wrap a prompt as a user message in the model's chat template, with the assistant's "
        "header after it: auto (when the model has a template), on, off (the text as it is)")
      .one_of({"auto", "on", "off"});
  t.add(G::data, "system", &o.system,
        "with the chat template: a system message before the --prompt (empty: the template's "
        "default)")
      .value_name("TEXT");
  t.add(G::generation, "max-new-tokens", &o.max_new_tokens, "the most tokens to generate")
      .at_least(1);
  t.add(G::generation, "batch-size", &o.batch_size, "prompts generated together").at_least(1);
  t.add(G::generation, "temperature", &o.temperature, "0: greedy; above: sample at it").at_least(0);
  t.add(G::generation, "top-k", &o.top_k, "sample from the k most likely tokens (0: all)")
      .at_least(0);
  t.add(G::generation, "top-p", &o.top_p,
        "sample from the smallest set of tokens whose probability reaches p (1: all)")
      .above(0);
  t.add(G::generation, "seed", &o.seed,
        "seed of the sampling (prompt i's draws do not depend "
        "on the batch it is in)");
  add_parallel_options(t, &o.parallelism, /*pipeline=*/false);
  t.add(G::output, "out", &o.out,
        "with --input: write the JSONL here (atomically) instead of standard output")
      .value_name("FILE");
  return table;
}

void check_generate(const CommandOptions& t, GenerateOptions& o) {
  if (o.prompt.empty() == o.input.empty())
    t.option(o.input.empty() ? "prompt" : "input")
        .reject("give exactly one of --prompt and --input");
  if (o.top_p > 1) t.option("top-p").reject("must be at most 1");
  if (!o.system.empty() && o.chat == "off") t.option("system").reject("needs the chat template");
  check_device_and_dtype(t, o.device, o.dtype);
  check_parallel(t, o.parallelism, o.device);
}

// The ids generation stops at: generation_config.json's eos_token_id (one or a list), and
// config.json's.
std::vector<int64_t> stop_ids(const std::string& model, const model::LlamaConfig& config) {
  std::vector<int64_t> ids = config.eos_token_ids;
  const std::filesystem::path gen = std::filesystem::path(model) / "generation_config.json";
  if (std::filesystem::exists(gen)) {
    nlohmann::json e = read_json_file(gen.string()).value("eos_token_id", nlohmann::json());
    if (!e.is_array()) e = nlohmann::json::array({e});
    for (const nlohmann::json& id : e)
      if (id.is_number_integer() &&
          std::find(ids.begin(), ids.end(), id.get<int64_t>()) == ids.end())
        ids.push_back(id.get<int64_t>());
  }
  return ids;
}

struct Request {
  nlohmann::json line;  // the input line (or {"prompt": ...} for --prompt)
  std::vector<int32_t> ids;
};

std::vector<Request> read_requests(const GenerateOptions& o, const data::TextFormat& f) {
  const bool chat = o.chat == "on" || (o.chat == "auto" && f.chat);
  if (o.chat == "on") f.need_chat();
  std::vector<Request> out;
  auto from_prompt = [&](const std::string& text) {
    if (!chat) return data::text_prompt_ids(f, text);
    std::vector<tokenizer::ChatMessage> m;
    if (!o.system.empty()) m.push_back({"system", o.system});
    m.push_back({"user", text});
    return data::chat_prompt_ids(f, m);
  };
  if (!o.prompt.empty()) {
    out.push_back({{{"prompt", o.prompt}}, from_prompt(o.prompt)});
    return out;
  }
  std::ifstream in(o.input);
  if (!in) fail(o.input, ": cannot open JSONL file");
  std::string text;
  for (int64_t n = 1; std::getline(in, text); ++n) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = o.input + ":" + std::to_string(n) + ": ";
    Request r{parse_json(text, o.input, n), {}};
    try {
      if (r.line.is_object() && r.line.contains("messages")) {
        r.ids = data::chat_prompt_ids(f, data::messages_of(r.line["messages"], "messages"));
      } else if (r.line.is_object() && r.line.contains("prompt") && r.line["prompt"].is_string()) {
        r.ids = from_prompt(r.line["prompt"].get<std::string>());
      } else {
        fail("expected {\"prompt\": \"...\"} or {\"messages\": [...]}, got ", json_excerpt(r.line));
      }
    } catch (const Error& e) {
      fail(where, e.what());
    }
    out.push_back(std::move(r));
  }
  if (out.empty()) fail(o.input, ": no prompts");
  return out;
}

// Prints the text of a growing id list as it grows: what decodes so far, held back while it
// ends inside a UTF-8 character (a token may hold part of one).
class TextStream {
 public:
  explicit TextStream(const tokenizer::Tokenizer& tok) : tok_(tok) {}
  void add(int32_t id) {
    ids_.push_back(id);
    const std::string text = tok_.decode(ids_, true);
    const size_t ready = utf8_valid_prefix(text);
    if (ready > printed_ && text.compare(0, printed_, shown_, 0, printed_) == 0) {
      std::fwrite(text.data() + printed_, 1, ready - printed_, stdout);
      std::fflush(stdout);
      shown_ = text.substr(0, ready);
      printed_ = ready;
    }
  }

 private:
  const tokenizer::Tokenizer& tok_;
  std::vector<int32_t> ids_;
  std::string shown_;
  size_t printed_ = 0;
};

}  // namespace

std::optional<GenerateOptions> parse_generate_options(const std::vector<std::string>& args,
                                                      std::ostream& out) {
  return parse_command<GenerateOptions>(&generate_command_options, &check_generate, args, out);
}

int run_generate(const GenerateOptions& o) {
  const train::ModelSource source{o.model, o.init};
  if (!train::has_pretrained_weights(source))
    fail("--model ", o.model, ": no weights to generate with (give a model directory with ",
         "model.safetensors, or --init CHECKPOINT)");
  const train::ParallelJob job = train::ParallelJob::start(o.parallelism, o.device);
  const bool rank0 = job.writes_output();
  model::ModelOptions mopts{train::device_named(o.device), train::resolve_dtype(o.dtype, o.device),
                            false};
  mopts.tp = job.tensor_parallel();
  auto model = train::build_model(source, mopts, o.seed);
  if (!o.delta.empty()) neuron::apply_delta(*model, o.delta);
  const data::TextFormat format =
      data::TextFormat::for_model(model::companion_source(o.model, o.init));
  const tokenizer::Tokenizer& tok = format.need_tokenizer();
  const std::vector<Request> requests = read_requests(o, format);

  train::GenerationOptions g;
  g.max_new_tokens = o.max_new_tokens;
  g.batch = o.batch_size;
  g.eos = stop_ids(o.model, model->config());
  g.sampling = {o.temperature, o.top_k, o.top_p, o.seed};
  std::vector<std::vector<int32_t>> prompts;
  for (const Request& r : requests) prompts.push_back(r.ids);

  const bool stream = !o.prompt.empty() && rank0;
  TextStream text(tok);
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<train::Generated> out =
      train::generate(*model, prompts, g,
                      stream ? train::TokenCallback([&](size_t, int32_t id) { text.add(id); })
                             : train::TokenCallback());
  const double seconds = train::seconds_since(t0);
  if (!rank0) return 0;
  size_t tokens = 0;
  for (const train::Generated& r : out) tokens += r.ids.size();
  if (stream) {
    std::printf("\n");
    std::fflush(stdout);
  } else {
    std::ostringstream lines;
    for (size_t i = 0; i < out.size(); ++i) {
      nlohmann::json line = requests[i].line;
      line["completion"] = tok.decode(out[i].ids, true);
      line["completion_tokens"] = out[i].ids.size();
      line["finish_reason"] = out[i].stopped_at_eos ? "stop" : "length";
      lines << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    if (o.out.empty())
      std::cout << lines.str() << std::flush;
    else
      write_file_atomic(o.out, lines.str());
  }
  std::fprintf(stderr, "generated %zu tokens for %zu prompts in %.1f s (%.1f tok/s)\n", tokens,
               out.size(), seconds, seconds > 0 ? double(tokens) / seconds : 0.0);
  return 0;
}

}  // namespace neft::launch
