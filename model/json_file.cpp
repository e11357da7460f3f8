#include "model/json_file.h"

#include <set>
#include <vector>

#include "runtime/error.h"
#include "runtime/mapped_file.h"

namespace neft::model {

nlohmann::json parse_json(std::string_view text, const std::string& source) {
  // The parser keeps the last of two equal keys silently; a file that names a tensor or a
  // setting twice is ambiguous, so it is an error (as the safetensors format requires).
  std::vector<std::set<std::string>> open_objects;
  const auto reject_duplicates = [&](int, nlohmann::json::parse_event_t event,
                                     nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) open_objects.emplace_back();
    if (event == Event::object_end) open_objects.pop_back();
    if (event == Event::key && !open_objects.back().insert(parsed.get<std::string>()).second)
      fail(source, ": invalid JSON: duplicate key '", parsed.get<std::string>(), "'");
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), reject_duplicates);
  } catch (const nlohmann::json::parse_error& e) {
    // Drop the "[json.exception.parse_error.101] " tag; keep the position and the reason.
    std::string what = e.what();
    if (const size_t tag_end = what.find("] "); what.starts_with("[json.") && tag_end != what.npos)
      what.erase(0, tag_end + 2);
    fail(source, ": invalid JSON: ", what);
  }
}

nlohmann::json read_json_file(const std::string& path) {
  const MappedFile file(path);
  return parse_json(std::string_view(reinterpret_cast<const char*>(file.data()), file.size()),
                    path);
}

std::string json_excerpt(const nlohmann::json& value) {
  std::string s = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  constexpr size_t kMax = 60;
  if (s.size() > kMax) s = s.substr(0, kMax) + "...";
  return s;
}

}  // namespace neft::model
