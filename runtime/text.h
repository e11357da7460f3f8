// The few string helpers that option values, config files and data specs share.
#pragma once
#include <string>
#include <vector>

namespace neft {

// `s` without the blanks (spaces, tabs, line ends) around it.
std::string trim(const std::string& s);

// Splits a comma-separated list, trimming blanks around each item ("a, b" -> {"a", "b"});
// "" is the empty list, and "a," ends in an empty item (for the caller to refuse).
std::vector<std::string> split_list(const std::string& text);

}  // namespace neft
