// Helpers shared by every GoogleTest file: the engine's unit tests beside the
// code they test (cpp/src/*_test.cc) and the public-API tests (tests/cpp/).
//
// TempDirTest gives each test a fresh directory of its own, removed after
// the test, and names the queue path inside it; suites derive from it or
// alias it (`using FifoQueueCapacity = rocksq::testing::TempDirTest;`).

#ifndef ROCKSQ_TEST_UTIL_H_
#define ROCKSQ_TEST_UTIL_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "rocksdb/db.h"
#include "rocksdb/options.h"
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

// Every entry of `directory`, by name, with its size and modification time:
// equal before and after a call, the call wrote nothing there.
inline std::vector<std::tuple<std::string, uintmax_t, int64_t>> DirectorySnapshot(
    const std::filesystem::path& directory) {
  std::vector<std::tuple<std::string, uintmax_t, int64_t>> entries;
  for (const std::filesystem::directory_entry& entry :
       std::filesystem::directory_iterator(directory)) {
    struct stat info;
    ::stat(entry.path().c_str(), &info);
    const int64_t modified = static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 +
                             info.st_mtim.tv_nsec;
    entries.emplace_back(entry.path().filename().string(), static_cast<uintmax_t>(info.st_size),
                         modified);
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

// Opens the closed queue at `path` as a plain RocksDB database with every
// column family it has, hands `change` the database and the handles of
// `families` (in that order; the default family's writes go through the
// database itself), and closes it: how a test writes a queue's records as
// another release, or damage, would, without touching its files otherwise.
template <typename Change>
void ChangeRecords(const std::string& path, const std::vector<std::string>& families,
                   Change&& change) {
  std::vector<std::string> stored;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &stored).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : stored) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  const rocksdb::Status opened =
      rocksdb::DB::Open(rocksdb::DBOptions(), path, descriptors, &handles, &db);
  ASSERT_TRUE(opened.ok()) << opened.ToString();
  std::vector<rocksdb::ColumnFamilyHandle*> wanted;
  for (const std::string& name : families) {
    const auto found = std::find(stored.begin(), stored.end(), name);
    ASSERT_NE(found, stored.end()) << name;
    wanted.push_back(handles[found - stored.begin()]);
  }
  change(db, wanted);
  for (rocksdb::ColumnFamilyHandle* handle : handles) db->DestroyColumnFamilyHandle(handle);
  ASSERT_TRUE(db->Close().ok());
  delete db;
}

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
// Copies the directory of an open queue to `to`, taken while no call runs:
// what a process crash leaves (every write has reached the operating
// system, and nothing is flushed or closed), a queue of its own at `to`.
// The attach socket is left out: a copy cannot hold a listening socket,
// and the next owner replaces a stale one anyway. (A fork() child cannot
// stand in for the crashing process: RocksDB's background threads do not
// survive a fork.)
inline void CopyAsACrashLeavesIt(const std::filesystem::path& from,
                                 const std::filesystem::path& to) {
  namespace fs = std::filesystem;
  fs::create_directories(to);
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(from)) {
    const fs::path target = to / fs::relative(entry.path(), from);
    if (entry.is_directory()) {
      fs::create_directories(target);
    } else if (entry.is_regular_file()) {
      fs::copy_file(entry.path(), target);
    }
  }
}

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

// While it lives, this process's descriptors of `file` lead to /dev/null
// instead: writes through them go nowhere and every sync fails (EINVAL), as
// on a disk that failed. Then they lead to the file again.
class SyncsFail {
 public:
  explicit SyncsFail(const std::filesystem::path& file) {
    const std::filesystem::path target = std::filesystem::canonical(file);
    const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code error;
      if (std::filesystem::read_symlink(entry.path(), error) != target || error) continue;
      const int fd = std::stoi(entry.path().filename().string());
      swapped_.emplace_back(fd, ::fcntl(fd, F_DUPFD_CLOEXEC, 0));
      ::dup2(null_fd, fd);
    }
    ::close(null_fd);
    EXPECT_FALSE(swapped_.empty()) << "no descriptor of " << file;
  }
  ~SyncsFail() {
    for (const auto& [fd, saved] : swapped_) {
      ::dup2(saved, fd);
      ::close(saved);
    }
  }
  SyncsFail(const SyncsFail&) = delete;
  SyncsFail& operator=(const SyncsFail&) = delete;

 private:
  std::vector<std::pair<int, int>> swapped_;  // Each descriptor, and its saved copy.
};

// The exit status of the fork() child `child`, or -1 if it was killed or
// outlived `limit` (it is then killed): every child is reaped.
inline int WaitBounded(pid_t child, std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (done < 0 || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, &status, 0);
  return -1;
}

}  // namespace testing
}  // namespace rocksq

#endif  // ROCKSQ_TEST_UTIL_H_
