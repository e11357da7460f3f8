// Text examples: how a line of text becomes token ids and the tokens the model learns,
// following TRL's SFTTrainer:
//   {"messages": [{"role", "content"}, ...]}     rendered by the model's chat template; the
//                                                assistant turns are learned
//   {"prompt": "...", "completion": "..."}       prompt + completion + eos; the completion
//                                                (and eos) are learned
//   {"prompt": [messages], "completion": [messages]}   conversational prompt-completion:
//                                                the completion's assistant turns are learned
//   {"text": "..."}                              text + eos, all of it learned
// Plain text is encoded with the tokenizer's special tokens (its BOS, where it adds one), as
// transformers' tokenizer(text) does; a rendered conversation without them, since the template
// writes its own (apply_chat_template's convention).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/example.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace neft::data {

// What turns a model's text into ids: its tokenizer.json, chat template and eos token, each
// present or not, with the reason when not (raised when a line needs it).
struct TextFormat {
  std::string model;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  std::string no_tokenizer;  // why tokenizer is null
  std::shared_ptr<const tokenizer::ChatTemplate> chat;
  std::string no_chat;  // why chat is null
  int32_t eos = -1;     // tokenizer_config.json's eos_token, else config.json's first eos id

  // `model`: a model directory, or a preset name (which has neither).
  static TextFormat for_model(const std::string& model);
  const tokenizer::Tokenizer& need_tokenizer() const;
  const tokenizer::ChatTemplate& need_chat() const;
};

using ByteSpans = std::vector<std::pair<size_t, size_t>>;

// A JSONL line's list of {"role": string, "content": string} messages (`key` names it in the
// one-line error: not a non-empty list, or an element of another shape).
std::vector<tokenizer::ChatMessage> messages_of(const nlohmann::json& list, const char* key);

// The ids of `text` and, per id, whether it is learned: those inside one of `spans` (byte
// ranges). A span's tokens are found without offsets: they are the ids after the ones the
// whole text shares with the encoding of the text up to the span's start, up to those it
// shares with the encoding up to its end. So a token that crosses a span's start (a merge
// across the edge) is learned, one that crosses its end is not, and the ids are always those
// of the whole text, as inference sees it.
struct MaskedIds {
  std::vector<int32_t> ids;
  std::vector<uint8_t> learned;
};
MaskedIds encode_masked(const tokenizer::Tokenizer& tok, std::string_view text,
                        const ByteSpans& spans, bool add_special_tokens);

// The example of masked ids: the prompt runs up to the first learned id (at least the first
// id, which nothing predicts). Fails when nothing is learned.
Example example_of(const MaskedIds& m);

// `learn_from`: the first message whose assistant turns are learned (a conversational
// prompt-completion's completion); last_turn_only learns only the final assistant turn, the
// answer an evaluation checks.
Example chat_example(const TextFormat& f, const std::vector<tokenizer::ChatMessage>& messages,
                     size_t learn_from = 0, bool last_turn_only = false);
Example completion_example(const TextFormat& f, std::string_view prompt,
                           std::string_view completion);
Example text_example(const TextFormat& f, std::string_view text);

// What a model is given to continue: a conversation rendered with the generation prompt (the
// assistant's header) and encoded as apply_chat_template does, or plain text encoded with the
// tokenizer's special tokens.
std::vector<int32_t> chat_prompt_ids(const TextFormat& f,
                                     const std::vector<tokenizer::ChatMessage>& messages);
std::vector<int32_t> text_prompt_ids(const TextFormat& f, std::string_view text);

}  // namespace neft::data
