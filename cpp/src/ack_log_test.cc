// Unit tests of AckLog (ack_log.h): records appended read back in order and
// across a reopen; a record cut short by a crash, or zeros a machine crash
// left, end the log quietly; damage before the end is reported by
// DescribeDamage; Load skips the records of epochs already applied.

#include "ack_log.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "test_util.h"

namespace rocksq {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<uint64_t>;

// A record's size: epoch, count, the ids and a checksum, 8 bytes each.
constexpr uint64_t RecordBytes(size_t ids) { return (3 + ids) * 8; }

class AckLogTest : public testing::TempDirTest {
 protected:
  std::string Directory() const { return Dir().string(); }
  fs::path File() const { return Dir() / AckLog::kFileName; }

  std::string Bytes() const { return testing::ReadFile(File()); }
  void Overwrite(const std::string& bytes) const { testing::WriteFile(File(), bytes); }

  static uint64_t Append(AckLog& log, uint64_t epoch, const Ids& ids) {
    return log.Append(epoch, ids.data(), ids.size());
  }
};

TEST_F(AckLogTest, ANewLogIsEmpty) {
  AckLog log(Directory(), /*sync=*/false);

  EXPECT_TRUE(log.Load(0).empty());
  EXPECT_TRUE(fs::exists(File()));
  EXPECT_EQ(AckLog::DescribeDamage(Directory()), "");
}

TEST_F(AckLogTest, AppendedIdsReadBackInOrderAndAfterAReopen) {
  {
    AckLog log(Directory(), /*sync=*/true);
    EXPECT_EQ(Append(log, 1, {5, 3}), RecordBytes(2));
    EXPECT_EQ(Append(log, 1, {9}), RecordBytes(2) + RecordBytes(1));
    log.SyncThrough(RecordBytes(2) + RecordBytes(1));

    const AckLog::Records records = log.Load(0);
    EXPECT_EQ(records.ids, (Ids{5, 3, 9}));
    EXPECT_EQ(records.last_epoch, 1u);
  }
  AckLog reopened(Directory(), /*sync=*/false);
  EXPECT_EQ(reopened.Load(0).ids, (Ids{5, 3, 9}));
  EXPECT_EQ(AckLog::Peek(Directory(), 0).ids, (Ids{5, 3, 9}));
  EXPECT_EQ(fs::file_size(File()), RecordBytes(2) + RecordBytes(1));
}

TEST_F(AckLogTest, AnEmptyAppendWritesNothing) {
  AckLog log(Directory(), /*sync=*/false);
  Append(log, 1, {4});

  EXPECT_EQ(log.Append(1, nullptr, 0), RecordBytes(1));

  EXPECT_EQ(fs::file_size(File()), RecordBytes(1));
}

TEST_F(AckLogTest, RecordsOfAnEarlierEpochThanAskedAreSkipped) {
  AckLog log(Directory(), /*sync=*/false);
  Append(log, 1, {1, 2});
  Append(log, 2, {3});
  Append(log, 3, {4});

  EXPECT_EQ(log.Load(0).ids, (Ids{1, 2, 3, 4}));
  EXPECT_EQ(log.Load(2).ids, (Ids{3, 4}));
  EXPECT_EQ(log.Load(2).last_epoch, 3u);
  EXPECT_EQ(log.Load(3).ids, (Ids{4}));
  EXPECT_TRUE(log.Load(4).empty());
  EXPECT_EQ(AckLog::Peek(Directory(), 2).ids, (Ids{3, 4}));
}

TEST_F(AckLogTest, ClearEmptiesTheFileAndAppendsStartAfresh) {
  AckLog log(Directory(), /*sync=*/true);
  const uint64_t end = Append(log, 1, {1, 2});
  log.Clear();

  EXPECT_TRUE(log.Load(0).empty());
  EXPECT_EQ(fs::file_size(File()), 0u);
  log.SyncThrough(end);  // Cleared records count as synced: returns at once.

  Append(log, 2, {7});
  EXPECT_EQ(log.Load(0).ids, (Ids{7}));
}

TEST_F(AckLogTest, ARecordCutShortByACrashEndsTheLogWithoutDamage) {
  {
    AckLog log(Directory(), /*sync=*/false);
    Append(log, 1, {1, 2});
    Append(log, 1, {3, 4, 5});
  }
  const std::string whole = Bytes();
  ASSERT_EQ(whole.size(), RecordBytes(2) + RecordBytes(3));
  // Every length that cuts into the second record (including its header).
  for (size_t cut = RecordBytes(2) + 1; cut < whole.size(); cut += 3) {
    Overwrite(whole.substr(0, cut));

    EXPECT_EQ(AckLog(Directory(), false).Load(0).ids, (Ids{1, 2})) << "cut at " << cut;
    EXPECT_EQ(AckLog::DescribeDamage(Directory()), "") << "cut at " << cut;
  }
}

TEST_F(AckLogTest, ZerosAfterTheRecordsEndTheLogWithoutDamage) {
  {
    AckLog log(Directory(), /*sync=*/false);
    Append(log, 1, {1, 2});
  }
  Overwrite(Bytes() + std::string(4096, '\0'));

  EXPECT_EQ(AckLog(Directory(), false).Load(0).ids, (Ids{1, 2}));
  EXPECT_EQ(AckLog::DescribeDamage(Directory()), "");

  Overwrite(std::string(RecordBytes(2), '\0'));
  EXPECT_TRUE(AckLog(Directory(), false).Load(0).empty()) << "a zeroed record never checks out";
  EXPECT_EQ(AckLog::DescribeDamage(Directory()), "");
}

TEST_F(AckLogTest, AFlippedByteEndsTheLogAtItsRecordAndIsDescribedAsDamage) {
  {
    AckLog log(Directory(), /*sync=*/false);
    Append(log, 1, {1, 2});
    Append(log, 1, {3});
    Append(log, 1, {4});
  }
  std::string bytes = Bytes();
  const size_t second_record = RecordBytes(2);
  bytes[second_record + 2 * 8 + 7] ^= 0x01;  // The second record's id.
  Overwrite(bytes);

  EXPECT_EQ(AckLog(Directory(), false).Load(0).ids, (Ids{1, 2}));
  EXPECT_EQ(AckLog::Peek(Directory(), 0).ids, (Ids{1, 2}));
  const std::string damage = AckLog::DescribeDamage(Directory());
  EXPECT_NE(damage.find("after byte " + std::to_string(second_record)), std::string::npos)
      << damage;
  EXPECT_NE(damage.find("2 acks before it"), std::string::npos) << damage;
}

TEST_F(AckLogTest, WithoutAFilePeekFindsNothingAndCreatesNothing) {
  EXPECT_TRUE(AckLog::Peek(Directory(), 0).empty());
  EXPECT_EQ(AckLog::DescribeDamage(Directory()), "");
  EXPECT_FALSE(fs::exists(File()));
}

}  // namespace
}  // namespace rocksq
