// Safetensors checkpoints, the format HF transformers reads and writes: an 8-byte
// little-endian header length N, N bytes of JSON ({name: {dtype, shape, data_offsets}},
// optional "__metadata__": {string: string}), then the tensor bytes, offsets counted from
// the end of the header.
//
// Reading memory-maps the file and validates the whole header before any tensor is used,
// so a truncated or corrupt file is a one-line error naming it rather than garbage weights.
// Reads convert between f32, bf16 and f16 on the way (with runtime's rounding), and a
// tensor-parallel rank reads only its own rows or columns of a weight.
//
// Writing is atomic per file (runtime/atomic_file.h). A sharded save replaces its shards
// one by one, so a save that must be atomic as a whole goes to a fresh directory that is
// renamed into place afterwards.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/mapped_file.h"
#include "runtime/tensor.h"

namespace neft::model {

struct TensorInfo {
  DType dtype = DType::F32;
  Shape shape;
  size_t nbytes = 0;
};

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
// What a writer will write, before the tensors exist: names, dtypes and shapes, in order.
using PlannedTensors = std::vector<std::pair<std::string, TensorInfo>>;
PlannedTensors plan_of(const NamedTensors& tensors);
using Metadata = std::map<std::string, std::string>;

// One .safetensors file.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return file_.path(); }
  // In the order of their bytes in the file.
  const std::vector<std::string>& names() const { return names_; }
  bool has(const std::string& name) const { return entries_.count(name) > 0; }
  const TensorInfo& info(const std::string& name) const;
  const Metadata& metadata() const { return metadata_; }

  // The tensor as `dtype` on `device`. Float dtypes convert among each other; integer
  // tensors are read as their own dtype only.
  Tensor read(const std::string& name, DType dtype, Device device = Device::CPU) const;
  // Rows [row_begin, row_begin + row_count) of the first dimension (any rank >= 1).
  Tensor read_rows(const std::string& name, int64_t row_begin, int64_t row_count, DType dtype,
                   Device device = Device::CPU) const;
  // Columns [col_begin, col_begin + col_count) of a 2-D tensor.
  Tensor read_cols(const std::string& name, int64_t col_begin, int64_t col_count, DType dtype,
                   Device device = Device::CPU) const;

 private:
  struct Entry {
    TensorInfo info;
    size_t offset = 0;  // from the start of the file
  };
  // The tensor seen as a [rows, cols] matrix; copies the window [r0, r0+rc) x [c0, c0+cc).
  struct Window {
    int64_t rows, cols, r0, rc, c0, cc;
  };
  const Entry& entry(const std::string& name) const;
  void parse_header();
  Tensor read_window(const std::string& name, const Window& w, const Shape& out_shape, DType dtype,
                     Device device) const;

  MappedFile file_;
  std::unordered_map<std::string, Entry> entries_;
  std::vector<std::string> names_;
  Metadata metadata_;
};

// A model's weights as HF lays them out: a directory with model.safetensors, or with
// model.safetensors.index.json mapping each tensor to its shard; or a single .safetensors
// file, or an index file, named directly. Every file is opened (and validated) once, here.
class Checkpoint {
 public:
  explicit Checkpoint(const std::string& path);

  const std::string& path() const { return path_; }
  // Shard by shard, in file order within each.
  const std::vector<std::string>& names() const { return names_; }
  bool has(const std::string& name) const { return owner_.count(name) > 0; }
  const TensorInfo& info(const std::string& name) const { return file_of(name).info(name); }
  // The first file's metadata (every shard this code writes carries the same).
  const Metadata& metadata() const;
  // The file that holds `name`; fails naming the checkpoint and the tensor when none does.
  const SafetensorsFile& file_of(const std::string& name) const;

  Tensor read(const std::string& name, DType dtype, Device device = Device::CPU) const {
    return file_of(name).read(name, dtype, device);
  }
  Tensor read_rows(const std::string& name, int64_t row_begin, int64_t row_count, DType dtype,
                   Device device = Device::CPU) const {
    return file_of(name).read_rows(name, row_begin, row_count, dtype, device);
  }
  Tensor read_cols(const std::string& name, int64_t col_begin, int64_t col_count, DType dtype,
                   Device device = Device::CPU) const {
    return file_of(name).read_cols(name, col_begin, col_count, dtype, device);
  }

 private:
  void open_single(const std::string& file);
  void open_index(const std::string& index);

  std::string path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::unordered_map<std::string, const SafetensorsFile*> owner_;
  std::vector<std::string> names_;
};

inline constexpr const char* kSafetensorsFile = "model.safetensors";
inline constexpr const char* kSafetensorsIndexFile = "model.safetensors.index.json";

// Writes the tensors (any dtype, any device; copied to the host one at a time) in the given
// order to `path` (creating its directory), atomically. The header is padded with spaces to a
// multiple of 8 bytes, as HF pads it, and its metadata gets "format": "pt" unless given
// (transformers requires it).
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const Metadata& metadata = {});
// Writes `dir`/model-0000i-of-0000N.safetensors shards of at most max_shard_bytes each (a
// larger tensor gets a shard of its own), filled in the given order, and the HF index
// {"metadata": {"total_size": ...}, "weight_map": {...}}; or a single model.safetensors when
// everything fits in one shard. Creates `dir`; removes the files of an earlier layout there.
void save_safetensors_sharded(const std::string& dir, const NamedTensors& tensors,
                              size_t max_shard_bytes, const Metadata& metadata = {});
// The same, with tensor i made by make(i) only when it is written, in order, so that one
// tensor is held at a time (a model larger than memory, or gathered from many ranks):
// `planned` gives each tensor's name, dtype and shape, and make(i) must return exactly that.
void save_safetensors_sharded(const std::string& dir, const PlannedTensors& planned,
                              const std::function<Tensor(size_t)>& make, size_t max_shard_bytes,
                              const Metadata& metadata = {});

}  // namespace neft::model
