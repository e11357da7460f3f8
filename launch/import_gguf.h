// `neft import-gguf FILE --out DIR`: a llama.cpp GGUF model as a Hugging Face directory
// (model/gguf_import.h), which every other command then takes as --model.
#pragma once
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace neft::launch {

struct ImportGgufOptions {
  std::string gguf;
  std::string out;
  std::string dtype = "f32";
};

std::optional<ImportGgufOptions> parse_import_gguf_options(const std::vector<std::string>& args,
                                                           std::ostream& out);
int run_import_gguf(const ImportGgufOptions& options);

}  // namespace neft::launch
