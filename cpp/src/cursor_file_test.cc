// Unit tests of CursorFile (cursor_file.h): the FIFO queue's read cursor in
// a 16-byte file. What a crash can leave (an empty or zeroed file) reads as
// no cursor; any other bytes that do not check out are corruption. Writers
// share syncs, and a failed sync fails every later call.

#include "cursor_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rocksq/error.h"
#include "test_util.h"

namespace rocksq {
namespace {

namespace fs = std::filesystem;
using CursorFileTest = testing::TempDirTest;
using testing::KindThrownBy;

constexpr uint64_t kFileBytes = 16;

class CursorFileContents : public testing::TempDirTest {
 protected:
  fs::path File() const { return dir_ / CursorFile::kFileName; }

  std::string Bytes() const { return testing::ReadFile(File()); }
  void Overwrite(const std::string& bytes) const { testing::WriteFile(File(), bytes); }
};

TEST_F(CursorFileTest, ANewFileHoldsNoCursorAndIsWrittenInFullAtOnce) {
  CursorFile cursor(Dir().string(), /*sync=*/false);

  EXPECT_EQ(cursor.Load(), 0u);
  // Written now, so that a pop on a full disk needs no new space.
  EXPECT_EQ(fs::file_size(Dir() / CursorFile::kFileName), kFileBytes);
}

TEST_F(CursorFileTest, AStoredCursorLoadsBackAndSurvivesAReopen) {
  {
    CursorFile cursor(Dir().string(), /*sync=*/true);
    cursor.Store(41);
    cursor.Store(42);
    EXPECT_EQ(cursor.Load(), 42u);
  }
  CursorFile reopened(Dir().string(), /*sync=*/false);
  EXPECT_EQ(reopened.Load(), 42u);
  EXPECT_EQ(fs::file_size(Dir() / CursorFile::kFileName), kFileBytes) << "rewritten in place";
}

TEST_F(CursorFileTest, EveryBitOfTheCursorIsKept) {
  CursorFile cursor(Dir().string(), /*sync=*/false);
  for (uint64_t position : {uint64_t{1}, uint64_t{0x0102030405060708}, UINT64_MAX - 1, UINT64_MAX}) {
    cursor.Store(position);
    EXPECT_EQ(cursor.Load(), position);
  }
}

TEST_F(CursorFileTest, PeekReadsTheStoredCursorAndZeroWithoutAFile) {
  EXPECT_EQ(CursorFile::Peek(Dir().string()), 0u);
  EXPECT_FALSE(fs::exists(Dir() / CursorFile::kFileName)) << "Peek created the file";

  CursorFile cursor(Dir().string(), /*sync=*/false);
  cursor.Store(7);
  EXPECT_EQ(CursorFile::Peek(Dir().string()), 7u);
}

TEST_F(CursorFileContents, AnEmptyFileLeftByAMachineCrashReadsAsNoCursorAndIsFilledAgain) {
  { CursorFile(Dir().string(), false).Store(9); }
  Overwrite("");

  EXPECT_EQ(CursorFile::Peek(Dir().string()), 0u);
  CursorFile cursor(Dir().string(), /*sync=*/false);
  EXPECT_EQ(cursor.Load(), 0u);
  EXPECT_EQ(Bytes().size(), kFileBytes);
}

TEST_F(CursorFileContents, AZeroedFileLeftByAMachineCrashReadsAsNoCursor) {
  { CursorFile(Dir().string(), false).Store(9); }
  Overwrite(std::string(kFileBytes, '\0'));

  EXPECT_EQ(CursorFile::Peek(Dir().string()), 0u);
  EXPECT_EQ(CursorFile(Dir().string(), false).Load(), 0u);
}

TEST_F(CursorFileContents, AFlippedByteIsCorruptionNamingTheFile) {
  { CursorFile(Dir().string(), false).Store(9); }
  for (size_t at : {size_t{0}, size_t{7}, size_t{8}, size_t{15}}) {
    std::string bytes = Bytes();
    ASSERT_EQ(bytes.size(), kFileBytes);
    bytes[at] = static_cast<char>(bytes[at] ^ 0x10);
    Overwrite(bytes);

    CursorFile cursor(Dir().string(), /*sync=*/false);
    std::string message;
    EXPECT_EQ(KindThrownBy([&] { cursor.Load(); }, &message), ErrorKind::kCorruption)
        << "byte " << at;
    EXPECT_NE(message.find(File().string()), std::string::npos) << message;
    EXPECT_EQ(KindThrownBy([&] { CursorFile::Peek(Dir().string()); }), ErrorKind::kCorruption);

    bytes[at] = static_cast<char>(bytes[at] ^ 0x10);
    Overwrite(bytes);
    EXPECT_EQ(cursor.Load(), 9u) << "restored";
  }
}

TEST_F(CursorFileContents, AShortFileThatIsNotAllZerosIsCorruption) {
  { CursorFile(Dir().string(), false).Store(9); }
  Overwrite(Bytes().substr(0, 8));

  EXPECT_EQ(KindThrownBy([&] { CursorFile::Peek(Dir().string()); }), ErrorKind::kCorruption);
  EXPECT_EQ(KindThrownBy([&] { CursorFile(Dir().string(), false).Load(); }),
            ErrorKind::kCorruption);
}

TEST_F(CursorFileTest, EachWaitReturnsOnceItsWriteIsDurableWhileOtherThreadsWrite) {
  CursorFile cursor(Dir().string(), /*sync=*/true);
  std::mutex writing;  // As the pop lock: positions are written in order.
  uint64_t next = 0;
  std::vector<std::thread> threads;
  std::vector<int> late(4, 0);
  for (int thread = 0; thread < 4; ++thread) {
    threads.emplace_back([&, thread] {
      for (int write = 0; write < 200; ++write) {
        uint64_t position, ticket;
        {
          std::lock_guard<std::mutex> lock(writing);
          position = ++next;
          ticket = cursor.Write(position);
        }
        cursor.WaitDurable(ticket);
        if (cursor.DurablePosition() < position) ++late[thread];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int thread = 0; thread < 4; ++thread) EXPECT_EQ(late[thread], 0) << "thread " << thread;
  EXPECT_EQ(cursor.DurablePosition(), 800u);
  EXPECT_EQ(cursor.Load(), 800u);
}

TEST_F(CursorFileTest, WithoutSyncEveryWriteIsDurableAtOnce) {
  CursorFile cursor(Dir().string(), /*sync=*/false);
  cursor.Write(5);
  EXPECT_EQ(cursor.DurablePosition(), 5u);
}

TEST_F(CursorFileContents, ASyncThatFailsFailsEveryLaterCallAndEachStoresTheDurableCursorAgain) {
  CursorFile cursor(Dir().string(), /*sync=*/true);
  cursor.Store(10);
  const uint64_t ticket = cursor.Write(20);
  std::string message;
  {
    testing::SyncsFail broken(File());  // Its write goes nowhere, too.
    EXPECT_EQ(KindThrownBy([&] { cursor.WaitDurable(ticket); }, &message), ErrorKind::kStorage);
  }
  EXPECT_NE(message.find("syncing the read cursor"), std::string::npos) << message;
  EXPECT_NE(message.find(File().string()), std::string::npos) << message;
  EXPECT_EQ(cursor.DurablePosition(), 10u);
  EXPECT_EQ(CursorFile::Peek(Dir().string()), 20u);  // The page, as the failed sync left it.

  // Each later call fails as the sync did, having stored the durable
  // cursor: the next open reads 10.
  EXPECT_EQ(KindThrownBy([&] { cursor.WaitDurable(ticket); }), ErrorKind::kStorage);
  EXPECT_EQ(CursorFile::Peek(Dir().string()), 10u);
  EXPECT_EQ(KindThrownBy([&] { cursor.Write(30); }), ErrorKind::kStorage);
  EXPECT_EQ(KindThrownBy([&] { cursor.WriteWithRecords({{0, PopRecord{1, 0, 1, 10, 5, 15}}}); }),
            ErrorKind::kStorage);
  EXPECT_EQ(CursorFile::Peek(Dir().string()), 10u);
  EXPECT_EQ(cursor.DurablePosition(), 10u);
}

TEST_F(CursorFileContents, APopRecordWrittenBeforeASyncThatFailsIsClearedByTheNextRefusal) {
  {
    CursorFile cursor(Dir().string(), /*sync=*/true);
    cursor.ReserveRecords();
    cursor.WaitDurable(cursor.WriteWithRecords({{0, PopRecord{1, 0, 1, 0, 10, 10}}}));
    const uint64_t ticket = cursor.WriteWithRecords({{1, PopRecord{2, 0, 1, 10, 5, 15}}});
    {
      testing::SyncsFail broken(File());
      EXPECT_EQ(KindThrownBy([&] { cursor.WaitDurable(ticket); }), ErrorKind::kStorage);
    }
    EXPECT_EQ(KindThrownBy([&] { cursor.Write(20); }), ErrorKind::kStorage);
  }
  // The record of the pop that failed would take the next open past its
  // items (Load takes the largest cursor_after).
  CursorFile reopened(Dir().string(), /*sync=*/true);
  EXPECT_EQ(reopened.Load(), 10u);
  const auto records = reopened.LoadRecords();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].first, 0u);
  EXPECT_EQ(records[0].second.cursor_after, 10u);
}

TEST_F(CursorFileTest, ADirectoryThatDoesNotExistIsAStorageError) {
  EXPECT_EQ(KindThrownBy([&] { CursorFile((Dir() / "missing").string(), false); }),
            ErrorKind::kStorage);
}

}  // namespace
}  // namespace rocksq
