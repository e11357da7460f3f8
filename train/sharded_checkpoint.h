// Sharded training checkpoints, as torch DCP and Megatron's dist_checkpointing lay them out:
// every rank writes its own slices at the same time into one safetensors file of its own,
// and a layout-free index says what each file holds.
//
//   step-00000100/
//     checkpoint_index.json    {"format": "neft-sharded", "version": 1, "tensors": {...}}
//     rank-00000.safetensors   rank 0's slices
//     rank-00001.safetensors   ...
//     trainer_state.json, config.json (and the model's tokenizer files)
//
// A checkpoint holds what trains and nothing else: every trainable parameter's value and
// optimizer state. A frozen weight is the base model's (trainer_state.json names the base and
// carries its fingerprint), so a neuron-level or LoRA checkpoint is ∝ what it trains.
//
// Two kinds of index entry:
// - a slice set, for a tensor kept whole or split by tensor parallelism:
//     "<name>": {"dtype": "F32", "shape": [whole], "slices": [{"file": F, "offset": [r, c]}]}
//   the file holds the slice under <name>, its shape in its own header;
// - a row set, for a neuron-level parameter's rows (its weight rows "<param>.rows", and its
//   optimizer state "<param>.exp_avg", ...), keyed by whole-tensor neuron indices:
//     "<name>": {"dtype": "F32", "rows_of": "<param>", "neurons": N, "cols": C, "files": [F]}
//   each file holds <name> [K, C] and "<param>.neurons" i32 [K], ascending.
// A rank resuming at any layout reads the parts of its own shard, from the memory-mapped
// files, and nothing else: no rank holds a whole tensor it does not own.
//
// Who writes what: the data-parallel replica 0 writes (the others hold the same values), and
// of a tensor kept whole on every TP rank, TP rank 0. Under the distributed optimizer every
// data-parallel rank writes the rows it owns (optim/state_partition.h), values and state: a
// slice of rows, or a row set's part. Per rank the save costs no more than the host copy of
// one tensor (nothing on CPU) and the index's few bytes per tensor.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/llama.h"
#include "model/safetensors.h"
#include "optim/adamw.h"
#include "parallel/communicator.h"

namespace neft::train {

inline constexpr const char* kCheckpointIndexFile = "checkpoint_index.json";
inline constexpr const char* kShardedFormat = "neft-sharded";

// "rank-00003.safetensors".
std::string rank_file_name(int rank);

// What one rank writes: its file's tensors and their index entries ({name: entry}, each
// entry naming this rank's file only; merge_index joins the ranks').
struct RankShards {
  model::NamedTensors tensors;
  nlohmann::json entries = nlohmann::json::object();
};
// This rank's share of the trainable state of `model` and `optimizer`. `replica_writer`:
// this rank belongs to the data-parallel replica that writes (dp rank 0); with a partitioned
// optimizer every rank writes its rows.
RankShards rank_shards(model::LlamaModel& model, const optim::AdamW& optimizer, bool replica_writer,
                       int rank);

// The index of a checkpoint from every rank's entries (RankShards::entries as JSON text).
nlohmann::json merge_index(const std::vector<std::string>& rank_entries);

// Writes the trainable state into `dir`, an existing directory every rank of `world` sees:
// each rank its own file (rank_shards), at the same time, then world rank 0 the index.
// Collective over `world` (null: one process). Atomicity is the caller's: `dir` is a
// temporary directory renamed into place once this has returned on rank 0.
void write_sharded_state(const std::string& dir, model::LlamaModel& model,
                         const optim::AdamW& optimizer, bool replica_writer,
                         parallel::Communicator* world);

// A checkpoint directory, opened for reading: the index parsed and checked, each rank file
// opened (memory-mapped, header validated) the first time a tensor of it is read.
class ShardedCheckpoint {
 public:
  explicit ShardedCheckpoint(const std::string& dir);
  static bool is_sharded(const std::string& dir);  // holds checkpoint_index.json
  const std::string& dir() const { return dir_; }

  bool has(const std::string& name) const { return entries_.count(name) > 0; }
  // Names of the index, sorted.
  std::vector<std::string> names() const;

  // p's shard (its rows or columns, or the whole) of the slice-set tensor `name`, whose
  // whole shape must be p.full_shape: read from the slices that overlap it. With `rows`, only
  // those rows of the shard (a distributed optimizer's state).
  Tensor read_shard(const std::string& name, const Parameter& p, DType dtype, Device device,
                    std::optional<optim::RowRange> rows = {}) const;
  // The rows of p's selected neurons (p.neuron_index order) of the row-set tensor `name`.
  // The saved neurons within p's shard must be exactly p's. With `rows`, only those of
  // p.neuron_index.
  Tensor read_neuron_rows(const std::string& name, const Parameter& p, DType dtype, Device device,
                          std::optional<optim::RowRange> rows = {}) const;
  // Writes the weights the checkpoint holds into a model at any layout that trains nothing
  // (evaluation, a new run from it): each parameter's shard, and the saved rows of a
  // neuron-level run's matrices within its shard. The rest stays as the model has it (the
  // base's weights). A LoRA run's checkpoint is refused (its adapters need their config).
  void load_weights(model::LlamaModel& model) const;
  // Reads every tensor of every file the index names (each slice, each row set): what a
  // checkpoint under a complete name must survive.
  void verify() const;

 private:
  struct Slice {
    std::string file;
    Shape offset;
  };
  struct Entry {
    DType dtype = DType::F32;
    int axis = 0;               // a row set's neuron axis in the whole tensor
    Shape shape;                // a slice set's whole shape
    std::vector<Slice> slices;  // a slice set's
    std::string rows_of;        // a row set's parameter ("" for a slice set)
    int64_t neurons = 0, cols = 0;
    std::vector<std::string> files;  // a row set's
  };
  // Where this rank's saved rows of the row set `name` (of p, whose shard may hold any
  // neurons of the axis) are: local neuron index -> (file, row), and the shard's range.
  struct SavedRows {
    int64_t begin = 0, count = 0;
    std::map<int64_t, std::pair<const model::SafetensorsFile*, int64_t>> at;
  };
  SavedRows locate_rows(const std::string& name, const Parameter& p) const;
  // The saved rows of the neurons `local` (each in `saved`), [local.size(), C] on the host.
  Tensor read_rows(const std::string& name, const SavedRows& saved,
                   const std::vector<int64_t>& local, int64_t C, DType dtype) const;
  const Entry& entry(const std::string& name) const;
  const model::SafetensorsFile& file(const std::string& name) const;
  // The region [offset, offset + shape) of slice-set tensor `name`, on the host.
  Tensor read_region(const std::string& name, const Shape& offset, const Shape& shape,
                     DType dtype) const;

  std::string dir_, index_path_;
  std::map<std::string, Entry> entries_;
  mutable std::map<std::string, std::unique_ptr<model::SafetensorsFile>> files_;
};

// Restores the trainable state of `model` and `optimizer` from `checkpoint`, at this rank's
// layout: each trainable parameter's value (a neuron-level one's selected rows) and its
// optimizer state; `optimizer_steps` is the saved step count. A parameter this run trains
// that the checkpoint lacks (or holds for the other kind of training), or one it holds that
// this run freezes, is a one-line error naming the checkpoint and the parameter. The
// optimizer's state is read for the rows it owns, whatever partition wrote it.
void restore_trainable_state(const ShardedCheckpoint& checkpoint, model::LlamaModel& model,
                             optim::AdamW& optimizer, int64_t optimizer_steps);

}  // namespace neft::train
