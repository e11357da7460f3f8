// GGUF, the file format of llama.cpp: a header of typed key/value metadata, a table of
// tensors (name, dims, type, offset) and the aligned tensor data, read from a memory map
// with every size and offset checked against the file. Tensors of types F32, F16, BF16,
// Q8_0, Q4_0 and Q4_1 are read as f32 (the quantized ones dequantized block by block, as
// ggml does); any other type is a one-line error naming the tensor and its type.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "runtime/mapped_file.h"

namespace neft::model {

// A metadata value: a scalar, a string, or an array of one of them.
struct GgufValue {
  using Array = std::vector<GgufValue>;
  std::variant<int64_t, uint64_t, double, bool, std::string, Array> v;
};

struct GgufTensor {
  std::string name;
  std::vector<int64_t> dims;  // ggml order: dims[0] varies fastest (a row of a matrix)
  uint32_t type = 0;          // ggml_type
  uint64_t offset = 0;        // from the start of the data section
  uint64_t bytes = 0;
  int64_t elements() const;
};

class GgufFile {
 public:
  explicit GgufFile(const std::string& path);

  const std::string& path() const { return map_->path(); }
  bool has(const std::string& key) const { return meta_.count(key) > 0; }
  // Typed reads; fail naming the file and the key when it is absent or of another type.
  int64_t integer(const std::string& key) const;
  double number(const std::string& key) const;
  bool boolean(const std::string& key) const;
  std::string string(const std::string& key) const;
  std::vector<std::string> strings(const std::string& key) const;
  std::vector<int64_t> integers(const std::string& key) const;
  std::vector<double> numbers(const std::string& key) const;

  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find(const std::string& name) const;
  // The tensor's elements as f32, in its own order.
  std::vector<float> read_f32(const GgufTensor& t) const;

 private:
  const GgufValue& value(const std::string& key) const;

  std::unique_ptr<MappedFile> map_;
  std::map<std::string, GgufValue> meta_;
  std::vector<GgufTensor> tensors_;
  uint64_t data_start_ = 0;
};

// ggml's name of a tensor type ("Q4_1"), or "type N" for an unknown one.
std::string gguf_type_name(uint32_t type);

}  // namespace neft::model
