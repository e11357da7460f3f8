#include "model/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>
#include <set>
#include <string_view>
#include <unordered_set>

#include "runtime/atomic_file.h"
#include "runtime/error.h"
#include "runtime/json_file.h"
#include "runtime/ops/cast.h"

namespace neft::model {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Larger headers are not safetensors files (the Rust reference uses the same limit).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DTypeName {
  DType dtype;
  const char* name;
};
constexpr DTypeName kDTypeNames[] = {{DType::F32, "F32"},
                                     {DType::BF16, "BF16"},
                                     {DType::F16, "F16"},
                                     {DType::I32, "I32"},
                                     {DType::I64, "I64"}};

const char* safetensors_name(DType dtype) {
  for (const auto& d : kDTypeNames)
    if (d.dtype == dtype) return d.name;
  fail("dtype ", dtype_name(dtype), " has no safetensors name");
}

// A non-negative integer that fits a shape entry (int64) with room to spare.
bool is_size(const json& v) {
  return v.is_number_unsigned() && v.get<uint64_t>() <= (uint64_t(1) << 62);
}

}  // namespace

// ---- reading ------------------------------------------------------------------------

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) { parse_header(); }

void SafetensorsFile::parse_header() {
  const std::string& p = path();
  const size_t size = file_.size();
  if (size < 8)
    fail(p, ": not a safetensors file (", size, " bytes, shorter than the 8-byte header length)");
  uint64_t header_bytes = 0;
  for (int i = 0; i < 8; ++i) header_bytes |= uint64_t(file_.data()[i]) << (8 * i);
  if (header_bytes > kMaxHeaderBytes)
    fail(p, ": header length ", header_bytes, " is implausible (limit ", kMaxHeaderBytes,
         " bytes); not a safetensors file?");
  if (header_bytes > size - 8)
    fail(p, ": truncated: the header needs ", header_bytes, " bytes but only ", size - 8,
         " follow its length");
  const json header =
      parse_json({reinterpret_cast<const char*>(file_.data()) + 8, size_t(header_bytes)}, p);
  if (!header.is_object()) fail(p, ": header is not a JSON object: ", json_excerpt(header));

  const size_t data_start = 8 + header_bytes;
  const size_t data_bytes = size - data_start;
  struct Span {
    size_t begin, end;
    const std::string* name;
  };
  std::vector<Span> spans;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) fail(p, ": __metadata__ must be an object of strings");
      for (const auto& [key, text] : value.items()) {
        if (!text.is_string())
          fail(p, ": __metadata__ value for '", key, "' must be a string (got ", json_excerpt(text),
               ")");
        metadata_[key] = text.get<std::string>();
      }
      continue;
    }
    if (!value.is_object())
      fail(p, ": tensor '", name, "' must be an object with dtype, shape and data_offsets (got ",
           json_excerpt(value), ")");
    for (const char* key : {"dtype", "shape", "data_offsets"})
      if (!value.contains(key)) fail(p, ": tensor '", name, "' has no '", key, "'");

    Entry e;
    const json& dtype = value["dtype"];
    const auto known = std::find_if(std::begin(kDTypeNames), std::end(kDTypeNames),
                                    [&](const DTypeName& d) { return dtype == d.name; });
    if (known == std::end(kDTypeNames))
      fail(p, ": tensor '", name, "' has unsupported dtype ", json_excerpt(dtype),
           " (supported: F32, BF16, F16, I32, I64)");
    e.info.dtype = known->dtype;

    const json& shape = value["shape"];
    if (!shape.is_array() || !std::all_of(shape.begin(), shape.end(), is_size))
      fail(p, ": tensor '", name, "' has shape ", json_excerpt(shape),
           " (expected a list of non-negative integers)");
    uint64_t expected = dtype_size(e.info.dtype);
    for (const json& d : shape) {
      e.info.shape.push_back(d.get<int64_t>());
      if (__builtin_mul_overflow(expected, d.get<uint64_t>(), &expected))
        fail(p, ": tensor '", name, "' has shape ", json_excerpt(shape), " too large to address");
    }

    const json& offsets = value["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !is_size(offsets[0]) || !is_size(offsets[1]))
      fail(p, ": tensor '", name, "' has data_offsets ", json_excerpt(offsets),
           " (expected [begin, end], non-negative integers)");
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    if (end < begin)
      fail(p, ": tensor '", name, "' has data_offsets [", begin, ", ", end,
           "] that end before they begin");
    if (end - begin != expected)
      fail(p, ": header says ", end - begin, " bytes for tensor '", name, "' of shape ",
           shape_str(e.info.shape), " ", dtype_name(e.info.dtype), " (", expected, " bytes)");
    if (end > data_bytes)
      fail(p, ": tensor '", name, "' has data_offsets [", begin, ", ", end,
           "] past the end of the data (", data_bytes, " bytes; file truncated?)");
    e.info.nbytes = size_t(expected);
    e.offset = data_start + size_t(begin);
    const auto it = entries_.emplace(name, std::move(e)).first;  // names are unique (parse_json)
    spans.push_back({size_t(begin), size_t(end), &it->first});
  }

  // Two tensors sharing bytes would alias each other's weights.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return std::tie(a.begin, *a.name) < std::tie(b.begin, *b.name);
  });
  const Span* furthest = nullptr;  // the non-empty span reaching furthest so far
  for (const Span& s : spans) {
    names_.push_back(*s.name);
    if (s.begin == s.end) continue;
    if (furthest && s.begin < furthest->end)
      fail(p, ": tensors '", *furthest->name, "' (bytes ", furthest->begin, "..", furthest->end,
           ") and '", *s.name, "' (bytes ", s.begin, "..", s.end, ") overlap");
    if (!furthest || s.end > furthest->end) furthest = &s;
  }
}

const SafetensorsFile::Entry& SafetensorsFile::entry(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) fail(path(), ": no tensor '", name, "'");
  return it->second;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const { return entry(name).info; }

Tensor SafetensorsFile::read(const std::string& name, DType dtype, Device device) const {
  const TensorInfo& info = entry(name).info;
  const int64_t numel = int64_t(info.nbytes / dtype_size(info.dtype));
  const int64_t rows = info.shape.empty() ? 1 : info.shape[0];
  const int64_t cols = rows ? numel / rows : 0;
  return read_window(name, {rows, cols, 0, rows, 0, cols}, info.shape, dtype, device);
}

Tensor SafetensorsFile::read_rows(const std::string& name, int64_t row_begin, int64_t row_count,
                                  DType dtype, Device device) const {
  const TensorInfo& info = entry(name).info;
  const int64_t rows = info.shape.empty() ? 0 : info.shape[0];
  if (info.shape.empty() || row_begin < 0 || row_count < 0 || row_begin > rows - row_count)
    fail(path(), ": rows [", row_begin, ", ", row_begin + row_count, ") out of range for tensor '",
         name, "' of shape ", shape_str(info.shape));
  const int64_t cols = rows ? int64_t(info.nbytes / dtype_size(info.dtype)) / rows : 0;
  Shape out_shape = info.shape;
  out_shape[0] = row_count;
  return read_window(name, {rows, cols, row_begin, row_count, 0, cols}, out_shape, dtype, device);
}

Tensor SafetensorsFile::read_cols(const std::string& name, int64_t col_begin, int64_t col_count,
                                  DType dtype, Device device) const {
  const TensorInfo& info = entry(name).info;
  if (info.shape.size() != 2)
    fail(path(), ": read_cols needs a 2-D tensor; '", name, "' has shape ", shape_str(info.shape));
  const int64_t rows = info.shape[0], cols = info.shape[1];
  if (col_begin < 0 || col_count < 0 || col_begin > cols - col_count)
    fail(path(), ": columns [", col_begin, ", ", col_begin + col_count,
         ") out of range for tensor '", name, "' of shape ", shape_str(info.shape));
  return read_window(name, {rows, cols, 0, rows, col_begin, col_count}, {rows, col_count}, dtype,
                     device);
}

Tensor SafetensorsFile::read_window(const std::string& name, const Window& w,
                                    const Shape& out_shape, DType dtype, Device device) const {
  const Entry& e = entry(name);
  const DType stored = e.info.dtype;
  if (stored != dtype && !(is_floating(stored) && is_floating(dtype)))
    fail(path(), ": tensor '", name, "' is ", dtype_name(stored), " and cannot be read as ",
         dtype_name(dtype));
  const size_t elem = dtype_size(stored);
  const unsigned char* base = file_.data() + e.offset;
  const unsigned char* first = base + (size_t(w.r0) * size_t(w.cols) + size_t(w.c0)) * elem;
  const size_t window_bytes = size_t(w.rc) * size_t(w.cc) * elem;
  const bool contiguous = w.cc == w.cols || w.rc <= 1;
  // A NaN or Inf in a weight would train on silently with a NaN loss: every read is checked
  // (the scan costs less than the copy that follows it).
  const int64_t checked_rows = contiguous ? 1 : w.rc;
  const size_t row_count = contiguous ? size_t(w.rc) * size_t(w.cc) : size_t(w.cc);
  for (int64_t r = 0; r < checked_rows; ++r) {
    const size_t start = size_t(w.r0 + r) * size_t(w.cols) + size_t(w.c0);  // element index
    if (const int64_t bad = first_non_finite(base + start * elem, row_count, stored); bad >= 0)
      fail(path(), ": tensor '", name, "' holds a NaN or Inf (element ", start + size_t(bad),
           " of ", shape_str(e.info.shape), ")");
  }

  // Same dtype and contiguous: straight from the mapping to the destination.
  if (contiguous && stored == dtype) {
    Tensor out = Tensor::empty(out_shape, dtype, device);
    device_copy(out.raw(), device, first, Device::CPU, window_bytes);
    return out;
  }
  Tensor staged = Tensor::empty(out_shape, stored, Device::CPU);
  auto* dst = static_cast<unsigned char*>(staged.raw());
  if (contiguous) {
    if (window_bytes) std::memcpy(dst, first, window_bytes);
  } else {
    const size_t row_bytes = size_t(w.cc) * elem, stride = size_t(w.cols) * elem;
    for (int64_t r = 0; r < w.rc; ++r)
      std::memcpy(dst + r * row_bytes, first + r * stride, row_bytes);
  }
  // Convert on the destination device: on a GPU the host moves the (often smaller) stored
  // bytes and the cast runs there.
  Tensor moved = device == Device::CPU ? staged : staged.to(device);
  if (stored == dtype) return moved;
  Tensor out = Tensor::empty(out_shape, dtype, device);
  ops::cast(moved, out);
  return out;
}

// ---- checkpoints: one file or an index of shards -------------------------------------

Checkpoint::Checkpoint(const std::string& path) : path_(path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    if (path.ends_with(".json"))
      open_index(path);
    else
      open_single(path);
    return;
  }
  const std::string single = (fs::path(path) / kSafetensorsFile).string();
  const std::string index = (fs::path(path) / kSafetensorsIndexFile).string();
  // A dangling link counts as present: opening it then says where it points.
  const bool has_single = fs::exists(fs::symlink_status(single, ec)),
             has_index = fs::exists(fs::symlink_status(index, ec));
  if (has_single && has_index)
    fail(path, ": holds both ", kSafetensorsFile, " and ", kSafetensorsIndexFile,
         "; which one is current is ambiguous");
  if (!has_single && !has_index)
    fail(path, ": no ", kSafetensorsFile, " or ", kSafetensorsIndexFile, " in this directory");
  if (has_single)
    open_single(single);
  else
    open_index(index);
}

void Checkpoint::open_single(const std::string& file) {
  files_.push_back(std::make_unique<SafetensorsFile>(file));
  names_ = files_.back()->names();
  for (const std::string& name : names_) owner_[name] = files_.back().get();
}

void Checkpoint::open_index(const std::string& index) {
  const json j = read_json_file(index);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    fail(index, ": no \"weight_map\" object (not a safetensors index)");
  const json& weight_map = j["weight_map"];
  const fs::path dir = fs::path(index).parent_path();

  // Open each shard once, in the order of their names (model-00001-of-... first).
  std::map<std::string, const SafetensorsFile*> shards;
  for (const auto& [name, shard] : weight_map.items()) {
    if (!shard.is_string() || shard.get<std::string>().empty())
      fail(index, ": weight_map entry for '", name, "' must be a file name (got ",
           json_excerpt(shard), ")");
    shards.emplace(shard.get<std::string>(), nullptr);
  }
  for (auto& [shard, file] : shards) {
    const std::string shard_path = (dir / shard).string();
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(shard_path, ec)))
      fail(index, ": shard ", shard, " not found (", shard_path, ")");
    files_.push_back(std::make_unique<SafetensorsFile>(shard_path));
    file = files_.back().get();
  }
  for (const auto& [name, shard] : weight_map.items()) {
    const SafetensorsFile* file = shards.at(shard.get<std::string>());
    if (!file->has(name))
      fail(index, ": tensor '", name, "' is mapped to ", shard.get<std::string>(),
           " but that file has no such tensor");
    owner_[name] = file;
  }
  for (const auto& file : files_)
    for (const std::string& name : file->names()) {
      const auto it = owner_.find(name);
      if (it != owner_.end() && it->second == file.get()) names_.push_back(name);
    }
}

const Metadata& Checkpoint::metadata() const {
  static const Metadata none;
  return files_.empty() ? none : files_.front()->metadata();
}

const SafetensorsFile& Checkpoint::file_of(const std::string& name) const {
  const auto it = owner_.find(name);
  if (it == owner_.end()) fail(path_, ": no tensor '", name, "'");
  return *it->second;
}

// ---- writing --------------------------------------------------------------------------

namespace {

void check_names(const NamedTensors& tensors, const std::string& target) {
  std::unordered_set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty() || name == "__metadata__")
      fail("writing ", target, ": '", name, "' cannot name a tensor");
    if (!seen.insert(name).second) fail("writing ", target, ": tensor '", name, "' given twice");
    if (!tensor.defined()) fail("writing ", target, ": tensor '", name, "' is undefined");
  }
}

// Writes the planned tensors to `path`, atomically: the header first (from the plan), then
// each tensor as make(i) returns it, so that one tensor at a time is held.
void write_file(const std::string& path, const PlannedTensors& planned,
                const std::function<Tensor(size_t)>& make, const Metadata& metadata) {
  nlohmann::ordered_json header;
  json meta(metadata);
  if (!meta.contains("format")) meta["format"] = "pt";
  header["__metadata__"] = meta;
  uint64_t offset = 0;
  for (const auto& [name, info] : planned) {
    header[name] = {{"dtype", safetensors_name(info.dtype)},
                    {"shape", info.shape},
                    {"data_offsets", {offset, offset + info.nbytes}}};
    offset += info.nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // tensor data starts 8-byte aligned

  AtomicFile file(path);
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
  file.write(length, 8);
  file.write(text);
  for (size_t i = 0; i < planned.size(); ++i) {
    const Tensor t = make(i);
    const TensorInfo& want = planned[i].second;
    if (!t.defined() || t.dtype() != want.dtype || t.shape() != want.shape)
      fail("writing ", path, ": tensor '", planned[i].first, "' is ",
           t.defined() ? t.str() : std::string("undefined"), ", not the ", dtype_name(want.dtype),
           " ", shape_str(want.shape), " planned");
    const Tensor host = t.device() == Device::CPU ? t : t.to(Device::CPU);
    if (host.nbytes()) file.write(host.raw(), host.nbytes());
  }
  file.commit();
}

std::string shard_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i, n);
  return buf;
}

// Files of another layout left by an earlier save in `dir` would make the checkpoint
// ambiguous (or keep stale shards around); remove those not in `keep`.
void remove_stale_layout(const fs::path& dir, const std::set<std::string>& keep) {
  static const std::regex shard(R"(model-\d{5}-of-\d{5}\.safetensors)");
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool ours =
        name == kSafetensorsFile || name == kSafetensorsIndexFile || std::regex_match(name, shard);
    if (ours && !keep.count(name) && !fs::remove(entry.path(), ec) && ec)
      fail("cannot remove stale ", entry.path().string(), ": ", ec.message());
  }
}

}  // namespace

PlannedTensors plan_of(const NamedTensors& tensors) {
  PlannedTensors planned;
  for (const auto& [name, t] : tensors)
    planned.emplace_back(name, TensorInfo{t.dtype(), t.shape(), t.nbytes()});
  return planned;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const Metadata& metadata) {
  check_names(tensors, path);
  if (const fs::path parent = fs::path(path).parent_path(); !parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) fail("cannot create directory ", parent.string(), ": ", ec.message());
  }
  write_file(
      path, plan_of(tensors), [&](size_t i) { return tensors[i].second; }, metadata);
}

void save_safetensors_sharded(const std::string& dir, const NamedTensors& tensors,
                              size_t max_shard_bytes, const Metadata& metadata) {
  check_names(tensors, dir);
  save_safetensors_sharded(
      dir, plan_of(tensors), [&](size_t i) { return tensors[i].second; }, max_shard_bytes,
      metadata);
}

void save_safetensors_sharded(const std::string& dir, const PlannedTensors& planned,
                              const std::function<Tensor(size_t)>& make, size_t max_shard_bytes,
                              const Metadata& metadata) {
  if (max_shard_bytes == 0) fail("writing ", dir, ": max_shard_bytes must be positive");
  std::unordered_set<std::string> seen;
  for (const auto& [name, bytes] : planned)
    if (name.empty() || name == "__metadata__" || !seen.insert(name).second)
      fail("writing ", dir, ": '", name, "' cannot name a tensor (empty, reserved or twice)");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create directory ", dir, ": ", ec.message());

  // Greedy in the given order, as HF splits a state dict.
  std::vector<PlannedTensors> shards(1);
  std::vector<std::vector<size_t>> made_by(1);  // each shard's tensors' indices in `planned`
  size_t filled = 0;
  for (size_t i = 0; i < planned.size(); ++i) {
    const size_t bytes = planned[i].second.nbytes;
    if (!shards.back().empty() && filled + bytes > max_shard_bytes) {
      shards.emplace_back();
      made_by.emplace_back();
      filled = 0;
    }
    shards.back().push_back(planned[i]);
    made_by.back().push_back(i);
    filled += bytes;
  }
  auto write_shard = [&](size_t s, const std::string& name) {
    write_file((fs::path(dir) / name).string(), shards[s],
               [&](size_t j) { return make(made_by[s][j]); }, metadata);
  };

  if (shards.size() == 1) {
    write_shard(0, kSafetensorsFile);
    remove_stale_layout(dir, {kSafetensorsFile});
    return;
  }
  std::set<std::string> written = {kSafetensorsIndexFile};
  json weight_map = json::object();
  uint64_t total_size = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string name = shard_name(s + 1, shards.size());
    write_shard(s, name);
    written.insert(name);
    for (const auto& [tensor, info] : shards[s]) {
      weight_map[tensor] = name;
      total_size += info.nbytes;
    }
  }
  // The index goes last: until it is in place, the directory does not name the new shards.
  const json index = {{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}};
  write_file_atomic((fs::path(dir) / kSafetensorsIndexFile).string(), index.dump(2) + "\n");
  remove_stale_layout(dir, written);
}

}  // namespace neft::model
