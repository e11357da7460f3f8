// Process groups from one rank layout tp x pp x dp = world, ranks ordered TP innermost, then
// DP, then PP (global rank = pp * dp_size * tp_size + dp * tp_size + tp), so that a TP group,
// the chattiest, is made of neighbouring ranks and stays inside a node. The arithmetic is
// pure (and tested without MPI); make_process_groups builds one communicator per group.
#pragma once
#include <memory>
#include <vector>

#include "parallel/communicator.h"

namespace neft::parallel {

struct Layout {
  int tp = 1, pp = 1, dp = 1;
  int world() const { return tp * pp * dp; }
};

// dp = world / (tp * pp); a one-line error when a size is below 1 or tp * pp does not
// divide the world ("world size 6 is not divisible by tp 4 x pp 1").
Layout make_layout(int world_size, int tp, int pp);

// A rank's position in each dimension of the layout.
struct RankCoordinates {
  int tp = 0, dp = 0, pp = 0;
  bool operator==(const RankCoordinates&) const = default;
};
RankCoordinates rank_coordinates(int global_rank, const Layout& layout);
int global_rank(const RankCoordinates& c, const Layout& layout);  // the inverse

// The groups a rank belongs to. ModelParallel: the tp x pp ranks holding one model replica
// (same dp coordinate), ordered by global rank.
enum class Group { World, TP, DP, PP, ModelParallel };
const char* group_name(Group g);  // "world", "tp", "dp", "pp", "mp"
// The global ranks of the group `g` of the rank at `c`, in group-rank order.
std::vector<int> group_ranks(Group g, const RankCoordinates& c, const Layout& layout);

struct ProcessGroups {
  Layout layout;
  int rank = 0;            // global
  RankCoordinates coords;  // of this rank
  std::unique_ptr<Communicator> world, tp, dp, pp, mp;

  bool first_stage() const { return coords.pp == 0; }
  bool last_stage() const { return coords.pp == layout.pp - 1; }
};

// Collective over MPI_COMM_WORLD (MPI is started if needed): the layout for this world
// size and one communicator per group, each with `timeout_s`. NCCL communicators need a
// build with CUDA and the rank's device selected (select_device_for_local_rank).
ProcessGroups make_process_groups(int tp, int pp, Backend backend,
                                  double timeout_s = default_comm_timeout_s());

}  // namespace neft::parallel
