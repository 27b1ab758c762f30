// Opens a FIFO queue in the directory given as argv[1], pushes three items,
// reopens it and pops them back. Prints each failed check and exits
// non-zero if any check failed or RocksQ threw.

#include <cstdio>
#include <exception>
#include <string>

#include "rocksq/rocksq.h"

namespace {

bool all_passed = true;

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "FAILED: %s\n", what);
    all_passed = false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s QUEUE_DIRECTORY\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  try {
    {
      auto queue = rocksq::FifoQueue::Open(path, {/*max_elements=*/3});
      queue->Push("first");
      queue->PushBatch({"second", "third"});
      bool refused_as_full = false;
      try {
        queue->Push("fourth");
      } catch (const rocksq::Error& error) {
        refused_as_full = error.kind() == rocksq::ErrorKind::kQueueFull;
      }
      Check(refused_as_full, "a push beyond max_elements throws kQueueFull");
      queue->Close();
    }
    // Reopened: the items were kept on disk.
    auto queue = rocksq::FifoQueue::Open(path, {/*max_elements=*/3});
    Check(queue->Len() == 3, "three items are stored after reopening");
    rocksq::PoppedItems items = queue->Pop(10);
    Check(items.size() == 3, "Pop(10) returns the three items");
    if (items.size() == 3) {
      Check(items[0] == "first" && items[1] == "second" && items[2] == "third",
            "items come back in push order");
    }
    Check(queue->IsEmpty(), "the queue is empty after popping everything");
    queue->Close();
    rocksq::FifoQueue::Destroy(path);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "FAILED: %s\n", error.what());
    return 1;
  }
  if (!all_passed) return 1;
  std::printf("rocksq consumer: pushed and popped 3 items\n");
  return 0;
}
