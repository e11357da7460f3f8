// Chat templates: a conversation rendered as the model was trained to read it, as
// transformers' apply_chat_template renders the Jinja template in tokenizer_config.json (or
// chat_template.jinja). neft does not interpret Jinja: it recognises the template's family by
// its structure and renders that family natively. Recognition normalises the template
// (whitespace outside string literals dropped, one quote style, message['x'] as message.x,
// newlines inside literals as \n) and requires the statement that writes a message, exactly:
//   chatml   '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n'
//            (SmolLM2, Qwen2, Qwen2.5 without tools, OpenHermes); a default system message
//            where the first message is not one is read from the template's literal
//            '<|im_start|>system\n...<|im_end|>'; a template that knows tools (Qwen2.5) writes
//            consecutive "tool" messages as <tool_response> blocks of one user turn
//   llama3   '<|start_header_id|>' + message.role + '<|end_header_id|>\n\n' +
//            message.content | trim + '<|eot_id|>', bos_token first (Llama-3 Instruct)
//   llama2   bos_token + '[INST] ' + content.strip() + ' [/INST]' with a <<SYS>> block
//            (Llama-2-chat)
//   mistral  '[INST] ' + message.content + ' [/INST]' and message.content + eos_token
//            (Mistral-7B-Instruct v0.2; v0.1's + eos_token + ' ' too)
//   zephyr   '<|user|>\n' + message.content + eos_token (zephyr-7b-beta)
// Anything else is refused with a one-line error naming the file: a template that renders a
// little differently must not be rendered silently as one of these.
//
// Spans: for assistant message i, the bytes from the end of the conversation before it
// (with the generation prompt, the assistant's header) to the end of its turn, trailing
// whitespace left out: what training learns (ChatML: "content<|im_end|>").
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace neft::tokenizer {

struct ChatMessage {
  std::string role, content;
};

struct RenderedChat {
  std::string text;
  // Byte ranges [begin, end) of `text` that each assistant turn adds, in order.
  std::vector<std::pair<size_t, size_t>> assistant_spans;
};

class ChatTemplate {
 public:
  // model_dir/chat_template.jinja if present, else tokenizer_config.json's "chat_template"
  // (a string, or a list of {"name", "template"} of which "default" is taken); bos_token and
  // eos_token from tokenizer_config.json (a string or {"content": ...}; absent: "").
  static ChatTemplate load(const std::string& model_dir);
  // `source` names the file in error messages.
  static ChatTemplate recognise(const std::string& template_text, const std::string& source,
                                std::string bos_token, std::string eos_token);

  const std::string& family() const { return family_; }
  // Fails (without a file name: the caller says where) on a role the family does not render
  // and on roles that do not alternate where the family's template raises.
  RenderedChat render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

 private:
  std::string family_, bos_, eos_;
  std::string default_system_;  // chatml: "" = none
  bool has_default_system_ = false;
  bool space_after_eos_ = false;
  bool any_role_ = false;        // chatml, llama3: every role written as a turn of its name
  bool tool_responses_ = false;  // chatml as Qwen2.5: tool turns inside a user turn  // mistral
                                 // v0.1: content + eos_token + ' '
};

}  // namespace neft::tokenizer
