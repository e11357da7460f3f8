// Process groups under mpirun: for each layout that fits the world (tp2, dp2, pp2 at two
// ranks; tp2 x dp2, tp2 x pp2 at four), every group's communicator holds exactly the ranks
// that group_ranks names, in that order, and this rank's coordinates are its positions.
#include <gtest/gtest.h>

#include "helpers.h"
#include "parallel/process_groups.h"

namespace neft::parallel {
namespace {

using testing::world_rank;
using testing::world_size;

struct LayoutCase {
  const char* name;
  int tp, pp, world;
};

class GroupMembership : public ::testing::TestWithParam<LayoutCase> {};

TEST_P(GroupMembership, EachGroupHoldsTheRanksOfItsLayout) {
  const LayoutCase c = GetParam();
  if (world_size() != c.world) GTEST_SKIP() << c.name << " is run with " << c.world << " ranks";
  const ProcessGroups groups = make_process_groups(c.tp, c.pp, Backend::MPI);
  EXPECT_EQ(groups.layout.world(), world_size());
  EXPECT_EQ(groups.rank, world_rank());
  EXPECT_EQ(groups.coords, rank_coordinates(world_rank(), groups.layout));
  EXPECT_EQ(groups.first_stage(), groups.coords.pp == 0);
  EXPECT_EQ(groups.last_stage(), groups.coords.pp == c.pp - 1);

  const std::pair<Group, Communicator*> all[] = {{Group::World, groups.world.get()},
                                                 {Group::TP, groups.tp.get()},
                                                 {Group::DP, groups.dp.get()},
                                                 {Group::PP, groups.pp.get()},
                                                 {Group::ModelParallel, groups.mp.get()}};
  for (const auto& [g, comm] : all) {
    const std::vector<int> expected = group_ranks(g, groups.coords, groups.layout);
    ASSERT_NE(comm, nullptr) << group_name(g);
    EXPECT_EQ(comm->name(), group_name(g));
    EXPECT_EQ(comm->size(), int(expected.size())) << group_name(g);
    EXPECT_EQ(expected[size_t(comm->rank())], world_rank()) << group_name(g);
    // Who is really in the communicator: every member's global rank, in group-rank order.
    const Tensor mine = Tensor::from_ints({world_rank()}, {1});
    Tensor members = Tensor::empty({comm->size()}, DType::I32);
    comm->all_gather(mine, members);
    EXPECT_EQ(members.to_ints(), expected) << group_name(g) << " of rank " << world_rank();
  }
  EXPECT_EQ(groups.tp->rank(), groups.coords.tp);
  EXPECT_EQ(groups.dp->rank(), groups.coords.dp);
  EXPECT_EQ(groups.pp->rank(), groups.coords.pp);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, GroupMembership,
    ::testing::Values(LayoutCase{"single", 1, 1, 1}, LayoutCase{"tp2", 2, 1, 2},
                      LayoutCase{"dp2", 1, 1, 2}, LayoutCase{"pp2", 1, 2, 2},
                      LayoutCase{"tp2xdp2", 2, 1, 4}, LayoutCase{"tp2xpp2", 2, 2, 4},
                      LayoutCase{"dp2xpp2", 1, 2, 4}, LayoutCase{"tp4", 4, 1, 4}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace neft::parallel
