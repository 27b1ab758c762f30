#include "rocksq/build_info.h"

#include <gtest/gtest.h>
#include <rocksdb/version.h>

#include <string>

namespace {

TEST(BuildInfo, NamesTheRocksDBWhoseHeadersTheCoreWasCompiledWith) {
  const std::string compiled_against = std::to_string(ROCKSDB_MAJOR) + "." +
                                       std::to_string(ROCKSDB_MINOR) + "." +
                                       std::to_string(ROCKSDB_PATCH);
  EXPECT_EQ(rocksq::GetBuildInfo().rocksdb_version, compiled_against);
}

TEST(BuildInfo, TheReleaseBuildChecksumsWithTheProcessorsCrc32cInstructions) {
  const rocksq::BuildInfo info = rocksq::GetBuildInfo();
  ASSERT_FALSE(info.crc32c.empty());
  if (info.build == "release") {
    EXPECT_TRUE(info.crc32c_hardware) << info.crc32c;
  }
  EXPECT_EQ(info.crc32c_hardware, info.crc32c.find("Not supported") == std::string::npos)
      << info.crc32c;
}

TEST(BuildInfo, NamesTheArchitectureAndTheBuild) {
  const rocksq::BuildInfo info = rocksq::GetBuildInfo();
#if defined(__x86_64__)
  EXPECT_EQ(info.architecture, "x86_64");
#elif defined(__aarch64__)
  EXPECT_EQ(info.architecture, "aarch64");
#endif
  EXPECT_TRUE(info.build == "debian" || info.build == "release" || info.build == "unknown")
      << info.build;
  EXPECT_NE(info.compiler, "unknown");
}

}  // namespace
