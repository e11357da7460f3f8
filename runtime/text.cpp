#include "runtime/text.h"

#include <sstream>

namespace neft {

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const auto end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  if (trim(text).empty()) return items;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) items.push_back(trim(item));
  if (text.back() == ',') items.push_back("");
  return items;
}

}  // namespace neft
