#include "tokenizer/chat_template.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>

#include <nlohmann/json.hpp>

#include "runtime/error.h"
#include "runtime/json_file.h"
#include "tokenizer/utf8.h"

namespace neft::tokenizer {

namespace {

namespace fs = std::filesystem;

constexpr const char* kAccepted =
    "neft renders ChatML (SmolLM2, Qwen), Llama-3, Llama-2 [INST] <<SYS>>, Mistral [INST] and "
    "Zephyr templates";

// Whitespace outside string literals dropped, one quote style, message['x'] as message.x,
// a newline inside a literal as the two characters \n.
std::string normalise(const std::string& t) {
  std::string out;
  char quote = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (quote) {
      if (c == '\\' && i + 1 < t.size()) {
        out += c;
        out += t[++i];
      } else if (c == quote) {
        out += '\'';
        quote = 0;
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c == '\'' ? '"' : c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      out += '\'';
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      out += c;
    }
  }
  for (const char* field : {"role", "content"}) {
    const std::string from = std::string("message['") + field + "']",
                      to = std::string("message.") + field;
    for (size_t at; (at = out.find(from)) != std::string::npos;) out.replace(at, from.size(), to);
  }
  // Adjacent literals joined: '<|im_end|>'+'\n' as '<|im_end|>\n'.
  for (size_t at; (at = out.find("'+'")) != std::string::npos;) out.erase(at, 3);
  return out;
}

bool has(const std::string& s, const char* fragment) {
  return s.find(fragment) != std::string::npos;
}

// Python's str.isspace (Jinja's trim and str.strip): Unicode White_Space and the
// information separators U+001C..U+001F.
bool python_space(char32_t c) { return is_white_space(c) || (c >= 0x1C && c <= 0x1F); }

std::string strip(const std::string& s, bool left = true) {
  const std::vector<size_t> at = code_point_offsets(s);
  size_t b = 0, e = at.size() - 1;
  auto cp = [&](size_t k) { return decode_utf8(s, at[k], at[k + 1] - at[k]); };
  while (left && b < e && python_space(cp(b))) ++b;
  while (e > b && python_space(cp(e - 1))) --e;
  return s.substr(at[b], at[e] - at[b]);
}

std::string token_content(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return "";
}

// Roles user, assistant, user, ... (after a leading system message where allowed), as the
// [INST] templates raise otherwise.
void check_alternation(const std::vector<ChatMessage>& m, size_t from) {
  for (size_t i = from; i < m.size(); ++i)
    if ((m[i].role == "user") != ((i - from) % 2 == 0))
      fail("Conversation roles must alternate user/assistant/user/assistant/... (message ", i,
           " is \"", m[i].role, "\")");
}

void check_roles(const std::vector<ChatMessage>& m) {
  for (const ChatMessage& x : m)
    if (x.role != "system" && x.role != "user" && x.role != "assistant")
      fail("role \"", x.role, "\" is not one this template renders (system, user, assistant)");
}

}  // namespace

ChatTemplate ChatTemplate::load(const std::string& model_dir) {
  const fs::path dir(model_dir), jinja = dir / "chat_template.jinja",
                                 config_path = dir / "tokenizer_config.json";
  nlohmann::json config = nlohmann::json::object();
  if (fs::exists(config_path)) config = read_json_file(config_path.string());
  std::string text, source;
  if (fs::exists(jinja)) {
    std::ifstream in(jinja, std::ios::binary);
    if (!in) fail(jinja.string(), ": cannot open for reading");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    source = jinja.string();
  } else if (config.contains("chat_template")) {
    source = config_path.string();
    const nlohmann::json& t = config["chat_template"];
    if (t.is_string())
      text = t.get<std::string>();
    else if (t.is_array())
      for (const nlohmann::json& named : t)
        if (named.is_object() && named.value("name", "") == "default" &&
            named.contains("template") && named["template"].is_string())
          text = named["template"].get<std::string>();
    if (text.empty())
      fail(source, ": \"chat_template\" must be a string or a list holding a \"default\" one");
  } else {
    fail(model_dir,
         ": no chat template (tokenizer_config.json has no \"chat_template\" and there "
         "is no chat_template.jinja)");
  }
  return recognise(text, source, token_content(config.value("bos_token", nlohmann::json())),
                   token_content(config.value("eos_token", nlohmann::json())));
}

ChatTemplate ChatTemplate::recognise(const std::string& text, const std::string& source,
                                     std::string bos, std::string eos) {
  const std::string n = normalise(text);
  ChatTemplate t;
  t.bos_ = std::move(bos);
  t.eos_ = std::move(eos);
  if (has(n, "'<|im_start|>'+message.role+'\\n'+message.content+'<|im_end|>\\n'")) {
    t.family_ = "chatml";
    // A template that knows tools (Qwen2.5) writes tool turns its own way, which neft does
    // not; a plain one writes any role as a turn.
    t.tool_responses_ = has(n, "<tool_response>");
    t.any_role_ = !has(n, "tool");
    // A default system message, written when the first message is not a system one.
    static const std::regex system(R"(<\|im_start\|>system(?:\\n|\n)([^'"]*?)<\|im_end\|>)");
    std::smatch m;
    if (has(n, "messages[0]['role']!='system'") || has(n, "messages[0]['role']=='system'") ||
        has(n, "messages[0].role!='system'") || has(n, "messages[0].role=='system'"))
      if (std::regex_search(text, m, system)) {
        t.has_default_system_ = true;
        std::string s = m[1].str();
        for (size_t at; (at = s.find("\\n")) != std::string::npos;) s.replace(at, 2, "\n");
        t.default_system_ = s;
      }
  } else if (has(n,
                 "'<|start_header_id|>'+message.role+'<|end_header_id|>\\n\\n'+message.content|"
                 "trim+'<|eot_id|>'") &&
             has(n, "bos_token") && !has(n, "CuttingKnowledgeDate") &&
             !has(n, "Cutting Knowledge Date")) {
    t.family_ = "llama3";
    t.any_role_ = true;
  } else if (has(n, "<<SYS>>") && has(n, "bos_token+'[INST] '+content.strip()+' [/INST]'")) {
    t.family_ = "llama2";
  } else if (has(n, "'[INST] '+message.content+' [/INST]'") &&
             has(n, "message.content+eos_token")) {
    t.family_ = "mistral";
    t.space_after_eos_ = has(n, "message.content+eos_token+' '");
  } else if (has(n, "'<|user|>\\n'+message.content+eos_token")) {
    t.family_ = "zephyr";
  } else {
    fail(source, ": chat template not recognised; ", kAccepted);
  }
  return t;
}

RenderedChat ChatTemplate::render(const std::vector<ChatMessage>& m, bool generation) const {
  if (!any_role_ && !tool_responses_) check_roles(m);
  if (tool_responses_)
    for (const ChatMessage& x : m)
      if (x.role != "tool" && x.role != "system" && x.role != "user" && x.role != "assistant")
        fail("role \"", x.role,
             "\" is not one this template renders (system, user, assistant, tool)");
  RenderedChat r;
  std::string& s = r.text;
  // Each turn: the text before the learned part, the learned part (assistant turns), after.
  auto turn = [&](const ChatMessage& msg, const std::string& head, const std::string& body,
                  const std::string& tail) {
    s += head;
    const size_t begin = s.size();
    s += body;
    if (msg.role == "assistant")
      r.assistant_spans.push_back({begin, begin + strip(body, false).size()});
    s += tail;
  };
  if (family_ == "chatml") {
    if (!m.empty() && m[0].role != "system" && has_default_system_)
      s += "<|im_start|>system\n" + default_system_ + "<|im_end|>\n";
    for (size_t i = 0; i < m.size(); ++i) {
      const ChatMessage& x = m[i];
      if (tool_responses_ && x.role == "tool") {
        if (i == 0 || m[i - 1].role != "tool") s += "<|im_start|>user";
        s += "\n<tool_response>\n" + x.content + "\n</tool_response>";
        if (i + 1 == m.size() || m[i + 1].role != "tool") s += "<|im_end|>\n";
        continue;
      }
      turn(x, "<|im_start|>" + x.role + "\n", x.content + "<|im_end|>", "\n");
    }
    if (generation) s += "<|im_start|>assistant\n";
  } else if (family_ == "llama3") {
    s += bos_;
    for (const ChatMessage& x : m)
      turn(x, "<|start_header_id|>" + x.role + "<|end_header_id|>\n\n",
           strip(x.content) + "<|eot_id|>", "");
    if (generation) s += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  } else if (family_ == "llama2") {
    const bool system = !m.empty() && m[0].role == "system";
    check_alternation(m, system ? 1 : 0);
    for (size_t i = system ? 1 : 0; i < m.size(); ++i) {
      std::string content = m[i].content;
      if (system && i == 1) content = "<<SYS>>\n" + m[0].content + "\n<</SYS>>\n\n" + content;
      if (m[i].role == "user")
        s += bos_ + "[INST] " + strip(content) + " [/INST]";
      else
        turn(m[i], "", " " + strip(content) + " " + eos_, "");
    }
  } else if (family_ == "mistral") {
    check_alternation(m, 0);
    s += bos_;
    for (const ChatMessage& x : m) {
      if (x.role == "user")
        s += "[INST] " + x.content + " [/INST]";
      else
        turn(x, "", x.content + eos_, space_after_eos_ ? " " : "");
    }
  } else {  // zephyr
    check_roles(m);
    for (const ChatMessage& x : m) turn(x, "<|" + x.role + "|>\n", x.content + eos_, "\n");
    if (generation) s += "<|assistant|>\n";
  }
  return r;
}

}  // namespace neft::tokenizer
