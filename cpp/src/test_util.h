// Helpers shared by every GoogleTest file: the engine's unit tests beside the
// code they test (cpp/src/*_test.cc) and the public-API tests (tests/cpp/).
//
// TempDirTest gives each test a fresh directory of its own, removed after
// the test, and names the queue path inside it; suites derive from it or
// alias it (`using FifoQueueCapacity = rocksq::testing::TempDirTest;`).

#ifndef ROCKSQ_TEST_UTIL_H_
#define ROCKSQ_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <random>
#include <string>
#include <system_error>

#include "rocksq/error.h"

namespace rocksq {

// Lets GoogleTest print an ErrorKind by name in failure messages.
inline void PrintTo(ErrorKind kind, std::ostream* os) { *os << ErrorKindName(kind); }

namespace testing {

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    // The pid and a random suffix keep parallel ctest runs (and reruns after
    // a crash left a directory behind) apart.
    std::random_device random;
    dir_ = std::filesystem::temp_directory_path() /
           ("rocksq_test_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" +
            std::to_string(::getpid()) + "_" + std::to_string(random()));
    std::filesystem::create_directories(dir_);
  }

  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

 public:
  // Where the test's queue lives; a queue's Open() creates it.
  std::string QueuePath() const { return (dir_ / "queue").string(); }
  const std::filesystem::path& Dir() const { return dir_; }

 protected:
  std::filesystem::path dir_;
};

// The kind of the rocksq::Error `call` throws (its message in *message);
// fails the test if it throws none.
template <typename Call>
ErrorKind KindThrownBy(Call&& call, std::string* message = nullptr) {
  try {
    call();
  } catch (const Error& error) {
    if (message) *message = error.what();
    return error.kind();
  }
  ADD_FAILURE() << "no rocksq::Error thrown";
  return ErrorKind::kStorage;
}

// The whole contents of `file` ("" if it cannot be read).
inline std::string ReadFile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Replaces the contents of `file` (creating it) with `contents`: how a test
// damages a queue's file.
inline void WriteFile(const std::filesystem::path& file, const std::string& contents) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << contents;
}

}  // namespace testing
}  // namespace rocksq

#endif  // ROCKSQ_TEST_UTIL_H_
