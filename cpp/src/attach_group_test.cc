#include <gtest/gtest.h>
#include <unistd.h>

#include "attach_server.h"

namespace rocksq {
namespace {

constexpr uid_t kOwner = 1000;
constexpr uid_t kStranger = 47001;
const AttachGroup kGroup{47000, "47000"};

TEST(MayAttachTest, TheOwnersUserAttachesWithOrWithoutAGroup) {
  EXPECT_TRUE(MayAttach(kOwner, std::nullopt, {kOwner, 5, {}}));
  EXPECT_TRUE(MayAttach(kOwner, kGroup, {kOwner, 5, {}}));
}

TEST(MayAttachTest, AnotherUserIsRefusedWithoutAGroupWhateverItsGroups) {
  EXPECT_FALSE(MayAttach(kOwner, std::nullopt, {kStranger, 47000, {47000}}));
}

TEST(MayAttachTest, AMemberOfTheGroupAttachesByItsPrimaryOrASupplementaryGroup) {
  EXPECT_TRUE(MayAttach(kOwner, kGroup, {kStranger, 47000, {}}));
  EXPECT_TRUE(MayAttach(kOwner, kGroup, {kStranger, 47002, {10, 47000}}));
}

TEST(MayAttachTest, ANonMemberIsRefused) {
  EXPECT_FALSE(MayAttach(kOwner, kGroup, {kStranger, 47002, {10, 11}}));
}

TEST(ResolveAttachGroupTest, NamesAGroupByNameOrGidAndRefusesAnUnknownName) {
  EXPECT_FALSE(ResolveAttachGroup("q", "").has_value());
  EXPECT_EQ(ResolveAttachGroup("q", "47000")->gid, 47000u);
  EXPECT_EQ(ResolveAttachGroup("q", "root")->gid, 0u);
  EXPECT_THROW(ResolveAttachGroup("q", "no-such-group"), Error);
  EXPECT_THROW(ResolveAttachGroup("q", "12x"), Error);
}

}  // namespace
}  // namespace rocksq
