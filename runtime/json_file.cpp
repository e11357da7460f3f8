#include "runtime/json_file.h"

#include <algorithm>
#include <optional>
#include <set>
#include <vector>

#include "runtime/error.h"
#include "runtime/mapped_file.h"

namespace neft {

namespace {

using Json = nlohmann::json;

int64_t line_at(std::string_view text, size_t offset, int64_t first_line) {
  offset = std::min(offset, text.size());
  return first_line + std::count(text.begin(), text.begin() + ptrdiff_t(offset), '\n');
}

struct ScanProblem {
  size_t offset;
  std::string what;
};

// One flat pass: the first NUL byte (which nlohmann's lexer takes for the end of the
// input, so "{}\0junk" would parse) and the first bracket opening level kMaxJsonDepth + 1.
std::optional<ScanProblem> scan(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\0') return ScanProblem{i, "NUL byte (JSON text cannot hold one)"};
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        return ScanProblem{i, "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels"};
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::nullopt;
}

// The keys of the objects the parser is inside, outermost first: "rope_scaling.factor".
std::string key_path(const std::vector<std::string>& keys) {
  std::string path;
  for (const std::string& k : keys) {
    if (k.empty()) continue;
    if (!path.empty()) path += '.';
    path += k;
  }
  return path;
}

// nlohmann's message without its "[json.exception.parse_error.101] " tag.
std::string untagged(const char* what) {
  std::string s = what;
  if (const size_t end = s.find("] "); s.starts_with("[json.") && end != s.npos)
    s.erase(0, end + 2);
  return s;
}

// A copy of `v` with at most a few elements per array or object and a few nodes in all.
Json truncated(const Json& v, int& budget) {
  constexpr size_t kElements = 6;
  constexpr size_t kStringChars = 60;
  --budget;
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    return s.size() > kStringChars ? Json(s.substr(0, kStringChars)) : v;
  }
  if (!v.is_structured()) return v;
  Json out = v.is_array() ? Json::array() : Json::object();
  size_t n = 0;
  for (auto it = v.begin(); it != v.end() && n < kElements && budget > 0; ++it, ++n) {
    if (v.is_array())
      out.push_back(truncated(*it, budget));
    else
      out[it.key()] = truncated(it.value(), budget);
  }
  return out;
}

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& source, int64_t first_line) {
  if (const auto problem = scan(text))
    fail(source, ":", line_at(text, problem->offset, first_line), ": ", problem->what);

  // One entry per open object (its current key) or array (empty): where an error happened.
  std::vector<std::string> keys;
  // The parser keeps the last of two equal keys silently; a file that names a tensor or a
  // setting twice is ambiguous, so it is an error (as the safetensors format requires).
  std::vector<std::set<std::string>> open_objects;
  const auto track = [&](int, Json::parse_event_t event, Json& parsed) {
    using Event = Json::parse_event_t;
    switch (event) {
      case Event::object_start:
        open_objects.emplace_back();
        keys.emplace_back();
        break;
      case Event::array_start:
        keys.emplace_back();
        break;
      case Event::object_end:
        open_objects.pop_back();
        keys.pop_back();
        break;
      case Event::array_end:
        keys.pop_back();
        break;
      case Event::key: {
        const std::string& key = parsed.get_ref<const std::string&>();
        const bool repeated = !open_objects.back().insert(key).second;
        keys.back() = key;
        if (repeated) fail(source, ": invalid JSON: duplicate key '", key_path(keys), "'");
        break;
      }
      case Event::value:
        break;
    }
    return true;
  };
  const auto at_key = [&] {
    const std::string path = key_path(keys);
    return path.empty() ? std::string() : "key '" + path + "': ";
  };
  try {
    return Json::parse(text.begin(), text.end(), track);
  } catch (const Json::parse_error& e) {
    // nlohmann counts lines within `text`; the line reported is the file's.
    std::string what = untagged(e.what());
    if (const size_t reason = what.find(": "); what.starts_with("parse error at line "))
      what.erase(0, reason + 2);
    fail(source, ":", line_at(text, e.byte ? e.byte - 1 : 0, first_line), ": ", at_key(),
         "invalid JSON: ", what);
  } catch (const Json::out_of_range& e) {
    // "number overflow parsing '1e999'": the number's text tells the line.
    const std::string what = untagged(e.what());
    std::string line;
    if (const size_t q = what.find('\''); q != what.npos && what.back() == '\'') {
      const std::string literal = what.substr(q + 1, what.size() - q - 2);
      if (const size_t at = text.find(literal); at != text.npos)
        line = ":" + std::to_string(line_at(text, at, first_line));
      fail(source, line, ": ", at_key(), "number ", literal, " is beyond the range of a double");
    }
    fail(source, ": ", at_key(), what);
  } catch (const Json::exception& e) {
    fail(source, ": ", at_key(), "invalid JSON: ", untagged(e.what()));
  }
}

std::optional<nlohmann::json> try_parse_json(std::string_view text) {
  if (scan(text)) return std::nullopt;
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

nlohmann::json read_json_file(const std::string& path) {
  const MappedFile file(path);
  return parse_json(std::string_view(reinterpret_cast<const char*>(file.data()), file.size()),
                    path);
}

std::string json_excerpt(const nlohmann::json& value) {
  int budget = 24;
  std::string s = truncated(value, budget).dump(-1, ' ', false, Json::error_handler_t::replace);
  constexpr size_t kMax = 60;
  if (s.size() > kMax) s = s.substr(0, kMax) + "...";
  return s;
}

}  // namespace neft
