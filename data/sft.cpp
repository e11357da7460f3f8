// JSONL supervised examples (see sft.h).
#include "data/sft.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include <optional>

#include "data/text_example.h"
#include "runtime/error.h"
#include "runtime/json_file.h"
#include "runtime/text.h"

namespace neft::data {

namespace {

std::vector<int32_t> token_ids(const nlohmann::json& line, const char* key, int32_t vocab,
                               const std::string& where) {
  const auto it = line.find(key);
  if (it == line.end()) fail(where, "missing \"", key, "\"");
  if (!it->is_array()) fail(where, "\"", key, "\" must be an array of integer token ids");
  // An empty prompt leaves no position to predict the first response token from.
  if (it->empty()) fail(where, "\"", key, "\" is empty");
  const int64_t limit = vocab > 0 ? vocab : std::numeric_limits<int32_t>::max();
  std::vector<int32_t> ids;
  ids.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const nlohmann::json& v = (*it)[i];
    if (!v.is_number_integer())
      fail(where, "\"", key, "\"[", i, "] is ", v.is_number() ? json_excerpt(v) : v.type_name(),
           ", not an integer token id");
    // Unsigned values above INT64_MAX are out of range whatever the vocab.
    const bool in_range = v.is_number_unsigned()
                              ? v.get<uint64_t>() < uint64_t(limit)
                              : v.get<int64_t>() >= 0 && v.get<int64_t>() < limit;
    if (!in_range)
      fail(where, "\"", key, "\"[", i, "] = ", v.dump(), " is outside [0, ", limit, ")",
           vocab > 0 ? " (the vocab)" : "");
    ids.push_back(int32_t(v.get<int64_t>()));
  }
  return ids;
}

std::string text_field(const nlohmann::json& line, const char* key, const std::string& where) {
  const nlohmann::json& v = line.at(key);
  if (!v.is_string()) fail(where, "\"", key, "\" must be a string, got ", json_excerpt(v));
  return v.get<std::string>();
}

// Runs `read` for the line at `where`, whose errors then all start with it: the field
// checks here say where themselves, the text conversions (text_example.h) do not.
template <class Read>
auto at_line(const std::string& where, Read&& read) {
  try {
    return read();
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind(where, 0) == 0) throw;
    fail(where, what);
  }
}

ChoiceItem choice_item(const nlohmann::json& line, const TextFormat& f, const std::string& where) {
  if (!line.contains("prompt")) fail(where, "a multiple-choice item needs a \"prompt\"");
  const std::string prompt = text_field(line, "prompt", where);
  const nlohmann::json& choices = line["choices"];
  if (!choices.is_array() || choices.size() < 2)
    fail(where, "\"choices\" must be a list of at least two strings");
  ChoiceItem item;
  std::vector<std::string> texts;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (!choices[i].is_string() || choices[i].get<std::string>().empty())
      fail(where, "\"choices\"[", i, "] must be a non-empty string, got ",
           json_excerpt(choices[i]));
    texts.push_back(choices[i].get<std::string>());
  }
  const auto answer = line.find("answer");
  if (answer == line.end()) fail(where, "a multiple-choice item needs an \"answer\"");
  if (answer->is_number_integer() && answer->get<int64_t>() >= 0 &&
      answer->get<int64_t>() < int64_t(texts.size()))
    item.answer = int(answer->get<int64_t>());
  else if (answer->is_string() &&
           std::find(texts.begin(), texts.end(), answer->get<std::string>()) != texts.end())
    item.answer =
        int(std::find(texts.begin(), texts.end(), answer->get<std::string>()) - texts.begin());
  else
    fail(where, "\"answer\" must be an index into \"choices\" (0..", texts.size() - 1,
         ") or one of them, got ", json_excerpt(*answer));
  // Each option is scored as a completion of the prompt: the choice's tokens only, no eos.
  for (const std::string& c : texts) {
    const std::string text = prompt + c;
    item.options.push_back(
        example_of(encode_masked(f.need_tokenizer(), text, {{prompt.size(), text.size()}}, true)));
    item.choice_bytes.push_back(c.size());
  }
  return item;
}

}  // namespace

SftDataset load_sft_jsonl(const std::string& path, const SftOptions& options) {
  std::ifstream in(path);
  if (!in) fail(path, ": cannot open JSONL file: ", std::strerror(errno));
  SftDataset data;
  data.path = path;
  std::optional<TextFormat> format;  // loaded at the first text line
  auto text_format = [&]() -> const TextFormat& {
    if (!format) format = TextFormat::for_model(options.model);
    return *format;
  };
  data.task_names = options.tasks;
  std::vector<std::string> seen;  // every task named, kept or not, for the error below
  std::string text;
  for (int64_t line_no = 1; std::getline(in, text); ++line_no) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    const nlohmann::json line = parse_json(text, path, line_no);
    if (!line.is_object())
      fail(where, "expected a JSON object (\"messages\", \"prompt\"/\"completion\", \"text\" or ",
           "token ids \"prompt\"/\"response\"), got ", line.type_name());
    int task = -1;
    if (const auto t = line.find("task"); t != line.end()) {
      if (!t->is_string()) fail(where, "\"task\" must be a string, got ", json_excerpt(*t));
      const std::string name = t->get<std::string>();
      if (std::find(seen.begin(), seen.end(), name) == seen.end()) seen.push_back(name);
      auto& names = data.task_names;
      task = int(std::find(names.begin(), names.end(), name) - names.begin());
      if (task == int(names.size())) {
        if (!options.tasks.empty()) continue;  // not a task asked for
        names.push_back(name);
      }
    } else if (!options.tasks.empty()) {
      continue;  // a line of no task is not one of the tasks asked for
    }
    const auto prompt = line.find("prompt");
    const bool ids = prompt != line.end() && prompt->is_array() &&
                     (prompt->empty() || prompt->front().is_number());
    if (line.contains("choices")) {
      if (!options.evaluation)
        fail(where, "a multiple-choice item (\"choices\") is for evaluation; training reads ",
             "\"messages\", \"prompt\"/\"completion\", \"text\" or token ids");
      ChoiceItem item = at_line(where, [&] { return choice_item(line, text_format(), where); });
      item.task = task;
      item.line = line_no;
      data.choices.push_back(std::move(item));
      continue;
    }
    Example e = at_line(where, [&] {
      Example e;
      if (ids || (prompt != line.end() && line.contains("response"))) {
        e.prompt = token_ids(line, "prompt", options.vocab, where);
        e.response = token_ids(line, "response", options.vocab, where);
      } else if (line.contains("messages")) {
        e = chat_example(text_format(), messages_of(line["messages"], "messages"), 0,
                         options.evaluation);
      } else if (prompt != line.end() && line.contains("completion")) {
        if (prompt->is_array()) {
          std::vector<tokenizer::ChatMessage> m = messages_of(*prompt, "prompt");
          const size_t learn_from = m.size();
          for (auto& c : messages_of(line["completion"], "completion")) m.push_back(std::move(c));
          e = chat_example(text_format(), m, learn_from, options.evaluation);
        } else {
          e = completion_example(text_format(), text_field(line, "prompt", where),
                                 text_field(line, "completion", where));
        }
      } else if (line.contains("text")) {
        e = text_example(text_format(), text_field(line, "text", where));
      } else {
        fail(where, "expected \"messages\", \"prompt\" and \"completion\", \"text\", or token ids ",
             "\"prompt\" and \"response\"; the line has ", json_excerpt(line));
      }
      return e;
    });
    if (options.vocab > 0)
      for (const auto* part : {&e.prompt, &e.response})
        for (int32_t id : *part)
          if (id >= options.vocab)
            fail(where, "token id ", id, " of the text is outside the model's vocabulary (",
                 options.vocab, ")");
    e.task = task;
    data.examples.push_back(std::move(e));
    data.lines.push_back(line_no);
  }
  if (in.bad()) fail(path, ": read error");
  for (const std::string& name : options.tasks)
    if (std::find(seen.begin(), seen.end(), name) == seen.end())
      fail(path, ": no line of task '", name,
           "' (the file's tasks: ", seen.empty() ? std::string("none") : join(seen, ", "), ")");
  if (data.examples.empty() && data.choices.empty()) fail(path, ": no examples");
  return data;
}

}  // namespace neft::data
