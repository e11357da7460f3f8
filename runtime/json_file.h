// Every JSON the project reads from a user's files (config.json, safetensors headers, the
// shard index, trainer_state.json, JSONL lines) goes through here, under one policy:
// - nesting deeper than kMaxJsonDepth, a NUL byte, a duplicate key, a number beyond a
//   double's range and a syntax error are all one-line errors "FILE:LINE: problem", with
//   the key path where the parser knows it;
// - the depth is checked by a flat scan before the (iterative) parser builds anything, so
//   no later step that recurses (a dump() for an error message, a destructor) can meet a
//   value deep enough to overflow the stack.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace neft {

// Deeper than any file the project reads needs (tokenizer.json's is under 10).
constexpr int kMaxJsonDepth = 64;

// Parses `text` from `source` (a file name), whose first line is line `first_line` there:
// a JSONL reader passes its line number. Fails as described above.
nlohmann::json parse_json(std::string_view text, const std::string& source, int64_t first_line = 1);
// For lines the project wrote itself and reads leniently (metrics.jsonl, where a killed
// run's last line may be cut short): the value, or nothing for text parse_json refuses.
std::optional<nlohmann::json> try_parse_json(std::string_view text);
// The whole file, parsed; fails naming the file when it is missing, not a regular file or
// unreadable.
nlohmann::json read_json_file(const std::string& path);
// A value as it appears in an error message: cut short when long, and built from at most a
// few elements of a large array or object, so an excerpt never costs more than its length.
std::string json_excerpt(const nlohmann::json& value);

}  // namespace neft
