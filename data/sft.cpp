// JSONL supervised examples (see sft.h).
#include "data/sft.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "runtime/error.h"
#include "runtime/json_file.h"

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

}  // namespace

SftDataset load_sft_jsonl(const std::string& path, int32_t vocab) {
  std::ifstream in(path);
  if (!in) fail(path, ": cannot open JSONL file: ", std::strerror(errno));
  SftDataset data;
  data.path = path;
  std::string text;
  for (int64_t line_no = 1; std::getline(in, text); ++line_no) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    const nlohmann::json line = parse_json(text, path, line_no);
    if (!line.is_object())
      fail(where, "expected a JSON object with \"prompt\" and \"response\", got ",
           line.type_name());
    Example e;
    e.prompt = token_ids(line, "prompt", vocab, where);
    e.response = token_ids(line, "response", vocab, where);
    if (const auto task = line.find("task"); task != line.end()) {
      if (!task->is_string()) fail(where, "\"task\" must be a string, got ", json_excerpt(*task));
      const std::string name = task->get<std::string>();
      auto& names = data.task_names;
      e.task = int(std::find(names.begin(), names.end(), name) - names.begin());
      if (e.task == int(names.size())) names.push_back(name);
    }
    data.examples.push_back(std::move(e));
    data.lines.push_back(line_no);
  }
  if (in.bad()) fail(path, ": read error");
  if (data.examples.empty()) fail(path, ": no examples");
  return data;
}

}  // namespace neft::data
