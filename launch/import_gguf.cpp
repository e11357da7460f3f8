#include "launch/import_gguf.h"

#include <chrono>
#include <cstdio>

#include "launch/command_options.h"
#include "model/gguf_import.h"
#include "train/progress.h"

namespace neft::launch {

namespace {

using G = OptionGroup;

std::unique_ptr<CommandOptions> import_gguf_command_options(ImportGgufOptions& o) {
  auto table = std::make_unique<CommandOptions>(
      "import-gguf",
      "Converts a llama.cpp GGUF file of a Llama model (neft import-gguf FILE --out DIR) into "
      "a Hugging Face model directory: config.json from its llama.* keys, model.safetensors "
      "with every weight dequantized (F32, F16, BF16, Q8_0, Q4_0 and Q4_1) under its HF name "
      "and llama.cpp's q/k row order undone, and tokenizer.json, tokenizer_config.json (with "
      "the chat template) and generation_config.json from its tokenizer.ggml.* keys. The "
      "directory is what `neft train --model`, `neft finetune` and transformers load.");
  CommandOptions& t = *table;
  t.add(G::model, "gguf", &o.gguf, "the GGUF file (or give it as the first argument)")
      .value_name("FILE");
  t.add(G::model, "dtype", &o.dtype,
        "of the written weights: f32 keeps the dequantized values exactly, bf16 halves the "
        "size")
      .one_of({"f32", "bf16"});
  t.add(G::output, "out", &o.out, "the model directory to write (atomically)")
      .value_name("DIR")
      .not_empty();
  return table;
}

void check_import_gguf(const CommandOptions& t, ImportGgufOptions& o) {
  if (o.gguf.empty())
    t.option("gguf").reject("give the GGUF file: neft import-gguf FILE --out DIR");
}

}  // namespace

std::optional<ImportGgufOptions> parse_import_gguf_options(const std::vector<std::string>& args,
                                                           std::ostream& out) {
  // FILE first, as in `neft import-gguf model.gguf --out DIR`.
  std::vector<std::string> rest = args;
  std::string file;
  if (!rest.empty() && !rest[0].empty() && rest[0][0] != '-') {
    file = rest[0];
    rest.erase(rest.begin());
  }
  std::optional<ImportGgufOptions> o = parse_command<ImportGgufOptions>(
      &import_gguf_command_options, [](const CommandOptions&, ImportGgufOptions&) {}, rest, out);
  if (!o) return o;
  if (!file.empty()) o->gguf = file;
  check_import_gguf(*import_gguf_command_options(*o), *o);
  return o;
}

int run_import_gguf(const ImportGgufOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  model::GgufImportOptions opts;
  opts.dtype = o.dtype == "bf16" ? DType::BF16 : DType::F32;
  model::import_gguf(o.gguf, o.out, opts);
  const double s = train::seconds_since(t0);
  std::printf("imported %s into %s (Hugging Face format, %s) in %.1f s\n", o.gguf.c_str(),
              o.out.c_str(), o.dtype.c_str(), s);
  return 0;
}

}  // namespace neft::launch
