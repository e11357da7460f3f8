// JSON as the checkpoint files hold it (config.json, the safetensors header, the shard
// index): parsed with one-line errors that name the file and the parser's position.
#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace neft::model {

// Fails with "<source>: invalid JSON: parse error at line L, column C: ...".
nlohmann::json parse_json(std::string_view text, const std::string& source);
// The whole file, parsed; fails naming the file when it is missing or unreadable.
nlohmann::json read_json_file(const std::string& path);
// A value as it appears in an error message, cut short when long.
std::string json_excerpt(const nlohmann::json& value);

}  // namespace neft::model
