#include "launch/tokenize.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "launch/command_options.h"
#include "runtime/atomic_file.h"
#include "runtime/error.h"
#include "tokenizer/tokenizer.h"
#include "train/progress.h"

namespace neft::launch {

namespace {

using G = OptionGroup;

std::unique_ptr<CommandOptions> tokenize_command_options(TokenizeOptions& o) {
  auto table = std::make_unique<CommandOptions>(
      "tokenize",
      "Encodes text to token ids with a Hugging Face tokenizer (tokenizer.json: byte-level BPE "
      "as in GPT-2, Llama-3, SmolLM2 and Qwen, or SentencePiece-style BPE as in Llama-2 and "
      "Mistral), exactly as transformers' tokenizers does; with --decode, ids back to text. "
      "Special tokens written in the text (<|im_start|>, <s>, ...) are found and kept whole. "
      "Prints one line of space-separated ids per text.");
  CommandOptions& t = *table;
  t.add(G::model, "tokenizer", &o.tokenizer, "a tokenizer.json, or a model directory holding one")
      .value_name("FILE|DIR")
      .not_empty();
  t.add(G::data, "text", &o.text, "the text to encode (with --decode: space-separated ids)")
      .value_name("TEXT");
  t.add(G::data, "input", &o.input,
        "a UTF-8 file: each line is one text to encode (with --decode: a line of ids)")
      .value_name("FILE");
  t.add_switch(G::data, "add-special-tokens", &o.add_special_tokens,
               "add the tokens the tokenizer's post-processor puts around a text (Llama's <s>, "
               "Llama-3's <|begin_of_text|>), as transformers' encode() does by default");
  t.add_switch(G::data, "decode", &o.decode, "decode ids to text instead of encoding");
  t.add_switch(G::data, "skip-special-tokens", &o.skip_special_tokens,
               "with --decode: leave special tokens out of the text");
  t.add_switch(G::output, "show-tokens", &o.show_tokens,
               "print id:token pairs rather than ids (the token as the vocabulary spells it)");
  t.add(G::output, "out", &o.out, "write the lines here (atomically) instead of standard output")
      .value_name("FILE");
  return table;
}

void check_tokenize(const CommandOptions& t, TokenizeOptions& o) {
  if (o.text.empty() == o.input.empty())
    t.option(o.input.empty() ? "text" : "input").reject("give exactly one of --text and --input");
  if (o.skip_special_tokens && !o.decode) t.option("skip-special-tokens").reject("needs --decode");
}

// "12 7 99" -> ids; fails naming the line.
std::vector<int32_t> parse_ids(const std::string& line, const std::string& where) {
  std::istringstream in(line);
  std::vector<int32_t> ids;
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || v < 0 || v > INT32_MAX)
      fail(where, ": '", word, "' is not a token id");
    ids.push_back(int32_t(v));
  }
  return ids;
}

}  // namespace

std::optional<TokenizeOptions> parse_tokenize_options(const std::vector<std::string>& args,
                                                      std::ostream& out) {
  return parse_command<TokenizeOptions>(&tokenize_command_options, &check_tokenize, args, out);
}

int run_tokenize(const TokenizeOptions& o) {
  const auto tok = tokenizer::Tokenizer::load(o.tokenizer);
  std::vector<std::string> lines;
  if (!o.text.empty()) {
    lines.push_back(o.text);
  } else {
    std::ifstream in(o.input, std::ios::binary);
    if (!in) fail(o.input, ": cannot open for reading");
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(line);
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::ostringstream result;
  size_t bytes = 0, tokens = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string where = o.input.empty() ? "--text" : o.input + ":" + std::to_string(i + 1);
    if (o.decode) {
      result << tok->decode(parse_ids(lines[i], where), o.skip_special_tokens) << '\n';
      continue;
    }
    std::vector<int32_t> ids;
    try {
      ids = tok->encode(lines[i], o.add_special_tokens);
    } catch (const Error& e) {
      fail(where, ": ", e.what());
    }
    bytes += lines[i].size();
    tokens += ids.size();
    for (size_t k = 0; k < ids.size(); ++k) {
      if (k) result << ' ';
      result << ids[k];
      if (o.show_tokens) result << ':' << tok->id_to_token(ids[k]);
    }
    result << '\n';
  }
  if (o.out.empty())
    std::cout << result.str() << std::flush;
  else
    write_file_atomic(o.out, result.str());
  if (!o.decode && !o.input.empty()) {
    const double s = train::seconds_since(t0);
    std::fprintf(stderr, "tokenized %zu lines, %zu bytes into %zu tokens in %.2f s (%.1f MB/s)\n",
                 lines.size(), bytes, tokens, s, s > 0 ? double(bytes) / s / 1e6 : 0.0);
  }
  return 0;
}

}  // namespace neft::launch
