// The few string helpers that option values, config files, data specs and readers of
// text from files (UTF-8 checks) share.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace neft {

// `s` without the blanks (spaces, tabs, line ends) around it.
std::string trim(const std::string& s);

// Splits a comma-separated list, trimming blanks around each item ("a, b" -> {"a", "b"});
// "" is the empty list, and "a," ends in an empty item (for the caller to refuse).
std::vector<std::string> split_list(const std::string& text);
// The items with `separator` between them ({"a", "b"}, ", " -> "a, b").
std::string join(const std::vector<std::string>& items, const std::string& separator);

// A byte count for people: "512 B", "1.5 KiB", "20.0 MiB", "5.1 GiB" (binary units).
std::string bytes_text(double bytes);
// A count for people: "950", "12.5k", "1.94M", "2.24B".
std::string count_text(double n);

// The length in bytes of the well-formed UTF-8 sequence at s[i], or 0 when there is none
// (a stray continuation byte, an overlong form, a surrogate, a value beyond U+10FFFF or a
// sequence cut short): Unicode's table 3-7.
size_t utf8_sequence_length(std::string_view s, size_t i);

// Where `s` first stops being well-formed UTF-8, or s.size() when it is.
size_t utf8_valid_prefix(std::string_view s);

}  // namespace neft
