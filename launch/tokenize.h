// `neft tokenize`: a Hugging Face tokenizer (tokenizer.json) run from the command line, to
// see what a model will be fed: text to ids, or with --decode ids to text, for one --text or
// every line of an --input file.
#pragma once
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace neft::launch {

struct TokenizeOptions {
  std::string tokenizer;  // tokenizer.json, or a model directory holding one
  std::string text;       // one text (or, with decode, ids)
  std::string input;      // a file: one text (or line of ids) per line
  std::string out;        // "" = standard output
  bool add_special_tokens = false;
  bool decode = false;
  bool skip_special_tokens = false;
  bool show_tokens = false;
};

std::optional<TokenizeOptions> parse_tokenize_options(const std::vector<std::string>& args,
                                                      std::ostream& out);
int run_tokenize(const TokenizeOptions& options);

}  // namespace neft::launch
