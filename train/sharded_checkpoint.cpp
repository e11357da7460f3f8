#include "train/sharded_checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <numeric>

#include "neuron/delta.h"
#include "parallel/text_messages.h"
#include "runtime/atomic_file.h"
#include "runtime/crash_point.h"
#include "runtime/error.h"
#include "runtime/json_file.h"
#include "train/distributed_checkpoint.h"

namespace neft::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kVersion = 1;
constexpr const char* kStateKinds[] = {"exp_avg", "exp_avg_sq", "master"};

// A rank file's name as the index may give it: "rank-<digits>.safetensors", nothing that
// reaches outside the checkpoint directory.
bool is_rank_file_name(const std::string& name) {
  const std::string prefix = "rank-", suffix = ".safetensors";
  if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) ||
      !name.ends_with(suffix))
    return false;
  const std::string digits =
      name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  return digits.find_first_not_of("0123456789") == std::string::npos;
}

// A shape (or offset) seen as [rows, cols]: a 1-D tensor is one column.
int64_t rows_of_shape(const Shape& s) { return s.empty() ? 1 : s[0]; }
int64_t cols_of_shape(const Shape& s) { return s.size() == 2 ? s[1] : 1; }

}  // namespace

std::string rank_file_name(int rank) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "rank-%05d.safetensors", rank);
  return buf;
}

RankShards rank_shards(model::LlamaModel& model, const optim::AdamW& optimizer, bool replica_writer,
                       int rank) {
  RankShards out;
  // Without the distributed optimizer one replica writes, every parameter's rows. With it each
  // data-parallel rank writes the rows it owns: their state, which no other rank holds, and
  // their values, so that every file names one set of neurons per parameter.
  if (!replica_writer && !optimizer.partition().split()) return out;
  const std::string file = rank_file_name(rank);
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : optimizer.state()) state.emplace(name, t);
  for (const Parameter* p : model.parameters()) {
    if (!p->trainable) continue;
    // A tensor every TP rank holds whole is written once, by TP rank 0.
    if (p->shard_dim < 0 && model.options().tp.rank != 0) continue;
    const optim::RowRange rows = optimizer.owned_rows(*p);
    if (rows.count == 0) continue;
    // The value's rows (a neuron-level parameter's selected rows, "<p>.rows"), then their
    // optimizer state.
    model::NamedTensors own;
    if (p->neuron_level())
      own.emplace_back(p->name + ".rows", selected_rows(*p).rows(rows.begin, rows.count));
    else
      own.emplace_back(p->name, p->value.rows(rows.begin, rows.count));
    for (const char* kind : kStateKinds)
      if (const auto it = state.find(p->name + "." + kind); it != state.end())
        own.emplace_back(it->first, it->second);

    if (!p->neuron_level()) {
      Shape offset(p->value.shape().size(), 0);
      if (p->shard_dim >= 0) offset[size_t(p->shard_dim)] = p->shard_offset;
      offset[0] += rows.begin;
      for (const auto& [name, t] : own) {
        out.tensors.emplace_back(name, t);
        out.entries[name] = {{"dtype", dtype_name(t.dtype())},
                             {"shape", p->full_shape},
                             {"slices", json::array({{{"file", file}, {"offset", offset}}})}};
      }
      continue;
    }
    // A neuron-level parameter: its selected neurons' rows, keyed by whole-tensor index.
    std::vector<int32_t> index = p->neuron_index.rows(rows.begin, rows.count).to_ints();
    for (int32_t& i : index) i += int32_t(p->neuron_offset());
    const int64_t C = p->grad_shape()[1];
    for (size_t k = 0; k < own.size(); ++k) {
      NeuronRows sorted = sorted_by_index(index, own[k].second.to(Device::CPU), p->name);
      if (k == 0) out.tensors.emplace_back(p->name + ".neurons", std::move(sorted.neurons));
      out.entries[own[k].first] = {{"dtype", dtype_name(sorted.rows.dtype())},
                                   {"rows_of", p->name},
                                   {"axis", p->neuron_axis},
                                   {"neurons", p->full_shape[size_t(p->neuron_axis)]},
                                   {"cols", C},
                                   {"files", json::array({file})}};
      out.tensors.emplace_back(own[k].first, std::move(sorted.rows));
    }
  }
  return out;
}

json merge_index(const std::vector<std::string>& rank_entries) {
  json tensors = json::object();
  for (const std::string& text : rank_entries) {
    const json entries = json::parse(text);
    for (const auto& [name, e] : entries.items()) {
      if (!tensors.contains(name)) {
        tensors[name] = e;
        continue;
      }
      json& have = tensors[name];
      NEFT_CHECK(have.value("rows_of", "") == e.value("rows_of", "") && have["dtype"] == e["dtype"],
                 "checkpoint index: ranks disagree on tensor '", name, "'");
      const char* parts = e.contains("rows_of") ? "files" : "slices";
      for (const json& part : e[parts]) have[parts].push_back(part);
    }
  }
  return {{"format", kShardedFormat}, {"version", kVersion}, {"tensors", tensors}};
}

void write_sharded_state(const std::string& dir, model::LlamaModel& model,
                         const optim::AdamW& optimizer, bool replica_writer,
                         parallel::Communicator* world) {
  const int rank = world ? world->rank() : 0;
  const RankShards mine = rank_shards(model, optimizer, replica_writer, rank);
  if (!mine.tensors.empty())
    model::save_safetensors((fs::path(dir) / rank_file_name(rank)).string(), mine.tensors);
  crash_point("a rank's checkpoint file written");
  const std::vector<std::string> entries = parallel::gather_text(mine.entries.dump(), world, 0);
  if (rank == 0)
    write_file_atomic((fs::path(dir) / kCheckpointIndexFile).string(),
                      merge_index(entries).dump(1) + "\n");
}

// ---- reading ------------------------------------------------------------------------------

bool ShardedCheckpoint::is_sharded(const std::string& dir) {
  return fs::is_regular_file(fs::path(dir) / kCheckpointIndexFile);
}

ShardedCheckpoint::ShardedCheckpoint(const std::string& dir)
    : dir_(dir), index_path_((fs::path(dir) / kCheckpointIndexFile).string()) {
  const json index = read_json_file(index_path_);
  auto bad = [&](const std::string& where, const std::string& what) {
    fail(index_path_, ": ", where, what);
  };
  if (!index.is_object() || index.value("format", json()) != kShardedFormat)
    bad("", std::string("not a sharded checkpoint index (\"format\" must be \"") + kShardedFormat +
                "\")");
  if (index.value("version", json()) != kVersion)
    bad("", "version " + json_excerpt(index.value("version", json())) + " is not " +
                std::to_string(kVersion));
  if (!index.contains("tensors") || !index["tensors"].is_object()) bad("", "no \"tensors\" object");
  auto integers = [&](const json& v, const std::string& where) {
    if (!v.is_array()) bad(where, " must be an array of integers, got " + json_excerpt(v));
    Shape s;
    for (const json& x : v) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0)
        bad(where, " must hold non-negative integers, got " + json_excerpt(v));
      s.push_back(x.get<int64_t>());
    }
    return s;
  };
  auto file_name = [&](const json& v, const std::string& where) {
    if (!v.is_string() || !is_rank_file_name(v.get<std::string>()))
      bad(where,
          ": \"file\" must name a rank file (rank-NNNNN.safetensors), got " + json_excerpt(v));
    return v.get<std::string>();
  };
  for (const auto& [name, e] : index["tensors"].items()) {
    const std::string where = "tensor '" + name + "'";
    if (!e.is_object()) bad(where, " is not an object");
    Entry entry;
    // value("dtype", "") would throw nlohmann's own error on a dtype that is not a string.
    const json dtype = e.value("dtype", json());
    try {
      entry.dtype = dtype_from_name(dtype.is_string() ? dtype.get<std::string>() : "");
    } catch (const Error&) {
      bad(where, ": unknown dtype " + json_excerpt(dtype));
    }
    if (e.contains("rows_of")) {
      if (!e["rows_of"].is_string()) bad(where, ": \"rows_of\" must be a string");
      entry.rows_of = e["rows_of"].get<std::string>();
      if (e.value("axis", json()) != 0 && e.value("axis", json()) != 1)
        bad(where, ": \"axis\" must be 0 or 1, got " + json_excerpt(e.value("axis", json())));
      entry.axis = e["axis"].get<int>();
      const Shape sizes =
          integers(json::array({e.value("neurons", json()), e.value("cols", json())}),
                   where + ": \"neurons\" and \"cols\"");
      entry.neurons = sizes[0];
      entry.cols = sizes[1];
      if (entry.neurons > (int64_t(1) << 40) || entry.cols > (int64_t(1) << 40))
        bad(where, ": implausible \"neurons\" or \"cols\"");
      if (!e.contains("files") || !e["files"].is_array()) bad(where, ": no \"files\" array");
      for (const json& f : e["files"]) entry.files.push_back(file_name(f, where));
    } else {
      entry.shape = integers(e.value("shape", json()), where + ": \"shape\"");
      if (entry.shape.empty() || entry.shape.size() > 2)
        bad(where, ": a " + std::to_string(entry.shape.size()) + "-D shape (1-D or 2-D expected)");
      // Sizes a tensor can have, whose products stay far from overflowing: 2^48 elements.
      const int64_t most = int64_t(1) << 48, R = entry.shape[0];
      if (R > most || (entry.shape.size() == 2 && R > 0 && entry.shape[1] > most / R))
        bad(where, ": implausible shape " + shape_str(entry.shape));
      if (!e.contains("slices") || !e["slices"].is_array() || e["slices"].empty())
        bad(where, ": no \"slices\"");
      for (const json& s : e["slices"]) {
        if (!s.is_object()) bad(where, ": a slice is not an object");
        Slice slice{file_name(s.value("file", json()), where),
                    integers(s.value("offset", json()), where + ": \"offset\"")};
        if (slice.offset.size() != entry.shape.size())
          bad(where, ": an offset of " + std::to_string(slice.offset.size()) + " dimensions");
        for (size_t d = 0; d < slice.offset.size(); ++d)
          if (slice.offset[d] > entry.shape[d])
            bad(where, ": offset " + shape_str(slice.offset) + " lies outside the whole " +
                           shape_str(entry.shape));
        entry.slices.push_back(std::move(slice));
      }
    }
    entries_.emplace(name, std::move(entry));
  }
}

std::vector<std::string> ShardedCheckpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : entries_) out.push_back(name);
  return out;
}

const ShardedCheckpoint::Entry& ShardedCheckpoint::entry(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) fail(index_path_, ": no tensor '", name, "'");
  return it->second;
}

const model::SafetensorsFile& ShardedCheckpoint::file(const std::string& name) const {
  auto& f = files_[name];
  if (!f) f = std::make_unique<model::SafetensorsFile>((fs::path(dir_) / name).string());
  return *f;
}

Tensor ShardedCheckpoint::read_region(const std::string& name, const Shape& offset,
                                      const Shape& shape, DType dtype) const {
  const Entry& e = entry(name);
  const int64_t R = rows_of_shape(shape), C = cols_of_shape(shape);
  const int64_t r0 = offset[0], c0 = shape.size() == 2 ? offset[1] : 0;
  // Each slice's overlap with the region, checked against the slice's file before anything
  // is allocated: an index that promises more than its files hold fails here, in one line.
  struct Overlap {
    const model::SafetensorsFile* file;
    int64_t sr0, sc0, sR, sC, ir0, ir1, ic0, ic1;
  };
  std::vector<Overlap> overlaps;
  int64_t covered = 0;
  for (const Slice& s : e.slices) {
    const model::SafetensorsFile& f = file(s.file);
    if (!f.has(name)) fail(f.path(), ": no tensor '", name, "' (the index places a slice there)");
    const Shape& ss = f.info(name).shape;
    const int64_t sr0 = s.offset[0], sc0 = ss.size() == 2 ? s.offset[1] : 0;
    const int64_t sR = rows_of_shape(ss), sC = cols_of_shape(ss);
    if (ss.size() != shape.size() || sr0 + sR > rows_of_shape(e.shape) ||
        sc0 + sC > cols_of_shape(e.shape))
      fail(f.path(), ": tensor '", name, "' of shape ", shape_str(ss), " at offset ",
           shape_str(s.offset), " does not fit the whole ", shape_str(e.shape));
    const int64_t ir0 = std::max(r0, sr0), ir1 = std::min(r0 + R, sr0 + sR);
    const int64_t ic0 = std::max(c0, sc0), ic1 = std::min(c0 + C, sc0 + sC);
    if (ir0 >= ir1 || ic0 >= ic1) continue;
    overlaps.push_back({&f, sr0, sc0, sR, sC, ir0, ir1, ic0, ic1});
    covered += (ir1 - ir0) * (ic1 - ic0);
  }
  if (covered != R * C)
    fail(index_path_, ": tensor '", name, "': the slices cover ", covered, " of the ", R * C,
         " elements of the region ", shape_str(shape), " at ", shape_str(offset));

  const size_t elem = dtype_size(dtype);
  Tensor out = Tensor::empty(shape, dtype);
  char* dst = static_cast<char*>(out.raw());
  for (const Overlap& o : overlaps) {
    // The overlap, read from the mapped file: whole rows, or (a column slice wanted whole
    // down its height) columns.
    const bool by_cols = shape.size() == 2 && o.ir1 - o.ir0 == o.sR && o.ic1 - o.ic0 < o.sC;
    const Tensor block = by_cols ? o.file->read_cols(name, o.ic0 - o.sc0, o.ic1 - o.ic0, dtype)
                                 : o.file->read_rows(name, o.ir0 - o.sr0, o.ir1 - o.ir0, dtype);
    const int64_t block_cols = by_cols ? o.ic1 - o.ic0 : o.sC, skip = by_cols ? 0 : o.ic0 - o.sc0;
    const char* src = static_cast<const char*>(block.raw());
    for (int64_t r = o.ir0; r < o.ir1; ++r)
      std::memcpy(dst + ((r - r0) * C + (o.ic0 - c0)) * elem,
                  src + ((r - o.ir0) * block_cols + skip) * elem, size_t(o.ic1 - o.ic0) * elem);
  }
  return out;
}

Tensor ShardedCheckpoint::read_shard(const std::string& name, const Parameter& p, DType dtype,
                                     Device device, std::optional<optim::RowRange> rows) const {
  const Entry& e = entry(name);
  if (!e.rows_of.empty())
    fail(index_path_, ": parameter '", p.name,
         "' was saved training selected neurons; this run trains it whole");
  if (e.shape != p.full_shape)
    fail(index_path_, ": tensor '", name, "' is ", shape_str(e.shape), ", expected ",
         shape_str(p.full_shape));
  Shape offset(p.value.shape().size(), 0), shape = p.value.shape();
  if (p.shard_dim >= 0) offset[size_t(p.shard_dim)] = p.shard_offset;
  if (rows) {
    offset[0] += rows->begin;
    shape[0] = rows->count;
  }
  return read_region(name, offset, shape, dtype).to(device);
}

ShardedCheckpoint::SavedRows ShardedCheckpoint::locate_rows(const std::string& name,
                                                            const Parameter& p) const {
  const Entry& e = entry(name);
  if (e.rows_of.empty())
    fail(index_path_, ": parameter '", p.name, "' trains selected neurons but '", name,
         "' was saved from a run that trained it whole");
  const int64_t N = p.full_shape[size_t(e.axis)], C = p.full_shape[size_t(1 - e.axis)];
  if (e.rows_of != p.name || e.cols != C || e.neurons != N)
    fail(index_path_, ": tensor '", name, "' holds rows of '", e.rows_of, "' (", e.neurons,
         " neurons of ", e.cols, "), expected ", p.name, " (", N, " of ", C, ")");
  SavedRows out;
  out.begin = p.shard_dim == e.axis ? p.shard_offset : 0;
  out.count = p.value.size(e.axis);
  for (const std::string& name_of_file : e.files) {
    const model::SafetensorsFile& f = file(name_of_file);
    const std::string key = p.name + ".neurons";
    if (!f.has(key) || !f.has(name)) fail(f.path(), ": no '", key, "' or '", name, "'");
    const std::vector<int32_t> ids = f.read(key, DType::I32).to_ints();
    if (f.info(name).shape != Shape{int64_t(ids.size()), C})
      fail(f.path(), ": tensor '", name, "' is ", shape_str(f.info(name).shape), ", expected [",
           ids.size(), ", ", C, "] (one row per neuron of '", key, "')");
    for (size_t j = 0; j < ids.size(); ++j) {
      if (ids[j] < 0 || ids[j] >= N) fail(f.path(), ": '", key, "' holds neuron ", ids[j]);
      if (ids[j] < out.begin || ids[j] >= out.begin + out.count) continue;
      if (!out.at.emplace(ids[j] - out.begin, std::make_pair(&f, int64_t(j))).second)
        fail(index_path_, ": neuron ", ids[j], " of '", p.name, "' is saved twice");
    }
  }
  return out;
}

Tensor ShardedCheckpoint::read_rows(const std::string& name, const SavedRows& saved,
                                    const std::vector<int64_t>& local, int64_t C,
                                    DType dtype) const {
  Tensor out = Tensor::empty({int64_t(local.size()), C}, dtype);
  const size_t row_bytes = size_t(C) * dtype_size(dtype);
  for (size_t k = 0; k < local.size(); ++k) {
    const auto& [f, j] = saved.at.at(local[k]);
    std::memcpy(static_cast<char*>(out.raw()) + k * row_bytes,
                f->read_rows(name, j, 1, dtype).raw(), row_bytes);
  }
  return out;
}

Tensor ShardedCheckpoint::read_neuron_rows(const std::string& name, const Parameter& p, DType dtype,
                                           Device device,
                                           std::optional<optim::RowRange> rows) const {
  const SavedRows saved = locate_rows(name, p);
  const std::vector<int32_t> mine = p.neuron_index.to_ints();
  std::vector<int32_t> wanted = mine, have;
  std::sort(wanted.begin(), wanted.end());
  for (const auto& [local, where] : saved.at) have.push_back(int32_t(local));
  if (have != wanted) {
    std::vector<int32_t> either;
    std::set_symmetric_difference(have.begin(), have.end(), wanted.begin(), wanted.end(),
                                  std::back_inserter(either));
    fail(index_path_, ": parameter '", p.name, "': the saved neurons are not the ones this run ",
         "trains (", have.size(), " saved and ", wanted.size(), " trained in this rank's range [",
         saved.begin, ", ", saved.begin + saved.count, "); neuron ", either.front() + saved.begin,
         " is in one set only)");
  }
  const optim::RowRange r = rows.value_or(optim::RowRange{0, int64_t(mine.size())});
  const std::vector<int64_t> local(mine.begin() + r.begin, mine.begin() + r.begin + r.count);
  return read_rows(name, saved, local, p.grad_shape()[1], dtype).to(device);
}

void ShardedCheckpoint::load_weights(model::LlamaModel& model) const {
  // A LoRA run's adapters are not parameters of a plain model: its model/ carries them, in
  // PEFT's format, for loading.
  for (const auto& [name, e] : entries_)
    if (name.find(".lora_") != std::string::npos)
      fail(dir_,
           ": the checkpoint of a LoRA run holds its adapters, which load with the run "
           "(--resume) or from its model/ directory");
  for (Parameter* p : model.parameters()) {
    if (has(p->name))
      p->value.copy_from(read_shard(p->name, *p, p->value.dtype(), p->value.device()));
    const std::string rows = p->name + ".rows";
    if (!has(rows)) continue;
    const SavedRows saved = locate_rows(rows, *p);
    std::vector<int64_t> local;
    for (const auto& [i, where] : saved.at) local.push_back(i);
    const int axis = entry(rows).axis;
    neuron::write_neurons(
        *p, axis, local,
        read_rows(rows, saved, local, p->value.size(1 - axis), DType::F32).to_floats());
  }
}

void ShardedCheckpoint::verify() const {
  for (const auto& [name, e] : entries_) {
    if (e.rows_of.empty()) {
      read_region(name, Shape(e.shape.size(), 0), e.shape, DType::F32);
      continue;
    }
    for (const std::string& f : e.files) {
      file(f).read(e.rows_of + ".neurons", DType::I32);
      file(f).read(name, DType::F32);
    }
  }
}

void restore_trainable_state(const ShardedCheckpoint& checkpoint, model::LlamaModel& model,
                             optim::AdamW& optimizer, int64_t optimizer_steps) {
  const std::string& dir = checkpoint.dir();
  std::map<std::string, const Parameter*> by_name;
  for (Parameter* p : model.parameters()) {
    by_name[p->name] = p;
    const bool whole = checkpoint.has(p->name), rows = checkpoint.has(p->name + ".rows");
    if (!p->trainable) {
      if (whole || rows)
        fail(dir, ": the checkpoint trains '", p->name,
             "', which this run freezes (it comes from a run that trained other parameters)");
      continue;
    }
    if (!p->neuron_level()) {
      if (!whole)
        fail(dir, ": parameter '", p->name, "' ",
             rows ? "was saved training selected neurons; this run trains it whole"
                  : "trains in this run but is not in the checkpoint");
      p->value.copy_from(checkpoint.read_shard(p->name, *p, p->value.dtype(), p->value.device()));
      continue;
    }
    if (p->neuron_index.numel() == 0) continue;  // none of its neurons are this rank's
    if (!rows)
      fail(dir, ": parameter '", p->name, "' trains selected neurons but the checkpoint ",
           whole ? "holds it whole (saved from a run that trained it whole)" : "lacks it");
    neuron::write_selected_rows(
        *p,
        checkpoint.read_neuron_rows(p->name + ".rows", *p, DType::F32, Device::CPU).to_floats());
  }
  model::NamedTensors state;
  for (const auto& [name, current] : optimizer.state()) {
    const Parameter& p = *by_name.at(name.substr(0, name.rfind('.')));
    if (p.neuron_level() && p.neuron_index.numel() == 0) {
      state.emplace_back(name, Tensor::zeros(current.shape(), DType::F32, current.device()));
      continue;
    }
    // A master copy exists only where the weights are not f32; a checkpoint from the other
    // kind of run lacks it or has one too many, and AdamW::load_state copes with both.
    if (!checkpoint.has(name)) continue;
    const optim::RowRange rows = optimizer.owned_rows(p);
    state.emplace_back(
        name, p.neuron_level()
                  ? checkpoint.read_neuron_rows(name, p, DType::F32, current.device(), rows)
                  : checkpoint.read_shard(name, p, DType::F32, current.device(), rows));
  }
  try {
    optimizer.load_state(state, optimizer_steps);
  } catch (const Error& e) {
    fail(dir, ": ", e.what());
  }
}

}  // namespace neft::train
