#include "parallel/process_groups.h"

#include <mpi.h>

#include <algorithm>

#include "parallel/environment.h"
#include "parallel/mpi_communicator.h"
#include "runtime/error.h"

#ifdef NEFT_WITH_CUDA
#include "parallel/nccl_communicator.h"
#endif

namespace neft::parallel {

Layout make_layout(int world_size, int tp, int pp) {
  if (tp < 1) fail("tp must be at least 1 (got ", tp, ")");
  if (pp < 1) fail("pp must be at least 1 (got ", pp, ")");
  if (world_size < 1) fail("world size must be at least 1 (got ", world_size, ")");
  if (world_size % (tp * pp) != 0)
    fail("world size ", world_size, " is not divisible by tp ", tp, " x pp ", pp);
  return Layout{tp, pp, world_size / (tp * pp)};
}

RankCoordinates rank_coordinates(int global_rank, const Layout& layout) {
  NEFT_CHECK(global_rank >= 0 && global_rank < layout.world(), "rank ", global_rank,
             " is outside a world of ", layout.world());
  return RankCoordinates{global_rank % layout.tp, (global_rank / layout.tp) % layout.dp,
                         global_rank / (layout.tp * layout.dp)};
}

int global_rank(const RankCoordinates& c, const Layout& layout) {
  NEFT_CHECK(c.tp >= 0 && c.tp < layout.tp && c.dp >= 0 && c.dp < layout.dp && c.pp >= 0 &&
                 c.pp < layout.pp,
             "coordinates (tp ", c.tp, ", dp ", c.dp, ", pp ", c.pp, ") are outside the layout");
  return (c.pp * layout.dp + c.dp) * layout.tp + c.tp;
}

const char* group_name(Group g) {
  switch (g) {
    case Group::World:
      return "world";
    case Group::TP:
      return "tp";
    case Group::DP:
      return "dp";
    case Group::PP:
      return "pp";
    case Group::ModelParallel:
      return "mp";
  }
  return "?";
}

std::vector<int> group_ranks(Group g, const RankCoordinates& c, const Layout& layout) {
  std::vector<int> ranks;
  // Every rank of the world, kept when it shares the coordinates that the group fixes.
  for (int r = 0; r < layout.world(); ++r) {
    const RankCoordinates o = rank_coordinates(r, layout);
    const bool member = g == Group::World ? true
                        : g == Group::TP  ? o.dp == c.dp && o.pp == c.pp
                        : g == Group::DP  ? o.tp == c.tp && o.pp == c.pp
                        : g == Group::PP  ? o.tp == c.tp && o.dp == c.dp
                                          : o.dp == c.dp;  // ModelParallel
    if (member) ranks.push_back(r);
  }
  return ranks;
}

namespace {

// MPI_Comm_split by group: the group's first global rank names it, the position orders it.
std::unique_ptr<MpiCommunicator> split(Group g, int rank, const RankCoordinates& c,
                                       const Layout& layout, double timeout_s) {
  const std::vector<int> ranks = group_ranks(g, c, layout);
  const int key = int(std::find(ranks.begin(), ranks.end(), rank) - ranks.begin());
  MPI_Comm comm;
  const int result = MPI_Comm_split(MPI_COMM_WORLD, ranks.front(), key, &comm);
  if (result != MPI_SUCCESS) fail("MPI_Comm_split for group ", group_name(g), " failed");
  return std::make_unique<MpiCommunicator>(comm, group_name(g), timeout_s);
}

}  // namespace

ProcessGroups make_process_groups(int tp, int pp, Backend backend, double timeout_s) {
#ifndef NEFT_WITH_CUDA
  if (backend == Backend::NCCL)
    fail("the nccl backend needs a build with CUDA (this one has none); use mpi");
#endif
  const ProcessEnvironment& env = process_environment();
  ProcessGroups groups;
  groups.layout = make_layout(env.world_size, tp, pp);
  groups.rank = env.rank;
  groups.coords = rank_coordinates(env.rank, groups.layout);
  auto make = [&](Group g) -> std::unique_ptr<Communicator> {
    std::unique_ptr<MpiCommunicator> mpi =
        split(g, env.rank, groups.coords, groups.layout, timeout_s);
#ifdef NEFT_WITH_CUDA
    if (backend == Backend::NCCL) return std::make_unique<NcclCommunicator>(std::move(mpi));
#endif
    return mpi;
  };
  groups.world = make(Group::World);
  groups.tp = make(Group::TP);
  groups.dp = make(Group::DP);
  groups.pp = make(Group::PP);
  groups.mp = make(Group::ModelParallel);
  return groups;
}

}  // namespace neft::parallel
