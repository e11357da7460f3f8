#include "tokenizer/json_fields.h"

#include "runtime/error.h"
#include "runtime/json_file.h"

namespace neft::tokenizer {

std::string Fields::where() const {
  return path_.empty() ? file_ : file_ + ": key '" + path_ + "'";
}

void Fields::fail(const std::string& problem) const { neft::fail(where(), ": ", problem); }

bool Fields::has(const std::string& key) const {
  return v_.is_object() && v_.contains(key) && !v_.at(key).is_null();
}

Fields Fields::at(const std::string& key) const {
  if (!v_.is_object()) fail("expected an object, got " + json_excerpt(v_));
  const std::string path = path_.empty() ? key : path_ + "." + key;
  if (!v_.contains(key)) neft::fail(file_, ": key '", path, "' is missing");
  return Fields(v_.at(key), file_, path);
}

Fields Fields::at(size_t index) const {
  if (!v_.is_array()) fail("expected an array, got " + json_excerpt(v_));
  return Fields(v_.at(index), file_, path_ + "[" + std::to_string(index) + "]");
}

size_t Fields::size() const {
  if (!v_.is_array()) fail("expected an array, got " + json_excerpt(v_));
  return v_.size();
}

std::string Fields::str(const std::string& key) const {
  const Fields f = at(key);
  if (!f.v_.is_string()) f.fail("expected a string, got " + json_excerpt(f.v_));
  return f.v_.get<std::string>();
}

std::optional<std::string> Fields::opt_str(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return str(key);
}

bool Fields::boolean(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const Fields f = at(key);
  if (!f.v_.is_boolean()) f.fail("expected true or false, got " + json_excerpt(f.v_));
  return f.v_.get<bool>();
}

int64_t Fields::integer(const std::string& key) const {
  const Fields f = at(key);
  if (!f.v_.is_number_integer()) f.fail("expected an integer, got " + json_excerpt(f.v_));
  return f.v_.get<int64_t>();
}

}  // namespace neft::tokenizer
