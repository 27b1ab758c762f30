#include "group_commit.h"

#include <algorithm>
#include <thread>

#include "waiting.h"

namespace rocksq {
namespace {

// A group gathers calls up to this many payload bytes (or the first call's
// size, if larger): enough to amortise a WAL write and an fsync over many
// small pushes, little enough to bound what a follower waits for.
constexpr size_t kMaxGroupBytes = 1 << 20;

// How long a call waiting for an unsynced group yields before it sleeps.
constexpr std::chrono::microseconds kSpinBeforeSleep(50);

}  // namespace

GroupCommit::Call::Call(const std::string_view* items, size_t count,
                        const SideRecords* side_records)
    : span{items, count, side_records} {
  for (size_t i = 0; i < count; ++i) bytes += items[i].size();
}

void GroupCommit::Append(const std::string_view* items, size_t count,
                         const SideRecords* side_records) {
  Call self(items, count, side_records);
  Run(self);
}

void GroupCommit::Exclusively(const std::function<void()>& write) {
  Call self(nullptr, 0, nullptr);
  self.exclusive = &write;
  Run(self);
}

void GroupCommit::Run(Call& self) {
  std::unique_lock<std::mutex> lock(mutex_);
  peak_active_ = std::max(peak_active_, ++active_);
  calls_.push_back(&self);
  // A gathering leader counts the calls that join it.
  if (gather_ && calls_.front() != &self) calls_.front()->turn.notify_one();
  if (!gather_ && calls_.front() != &self) {
    // An unsynced group's write takes microseconds: yield the CPU a few
    // times before sleeping, which costs two context switches.
    lock.unlock();
    const auto spin_until = std::chrono::steady_clock::now() + kSpinBeforeSleep;
    while (!self.signaled.load(std::memory_order_acquire) &&
           std::chrono::steady_clock::now() < spin_until) {
      std::this_thread::yield();
    }
    lock.lock();
  }
  self.turn.wait(lock, [&] { return self.done || calls_.front() == &self; });
  if (!self.done && self.exclusive) {
    lock.unlock();
    try {
      (*self.exclusive)();
    } catch (...) {
      self.error = std::current_exception();
    }
    lock.lock();
    self.done = true;
    calls_.pop_front();
    if (!calls_.empty()) {
      calls_.front()->signaled.store(true, std::memory_order_release);
      calls_.front()->turn.notify_one();
    }
  }
  if (!self.done) {
    if (gather_) Gather(lock, self);
    Group group;
    std::vector<Call*> members = FormGroup(&group);
    peak_active_ = active_;
    rocksdb::Status status = rocksdb::Status::OK();
    std::exception_ptr failure;
    if (group.item_count != 0) {
      lock.unlock();
      const auto write_start = std::chrono::steady_clock::now();
      try {
        status = owner_->WriteGroup(group);
      } catch (...) {  // std::bad_alloc while encoding: the group fails.
        failure = std::current_exception();
      }
      group.written_at = std::chrono::steady_clock::now();
      lock.lock();
      last_write_ = group.written_at - write_start;
    }
    if (!status.ok()) {
      failure = owner_->GroupFailed(status);
    } else if (!failure && group.item_count != 0) {
      owner_->GroupCommitted(group);
    }
    for (Call* call : members) {
      if (call->admitted && failure) call->error = failure;
      call->done = true;
      calls_.pop_front();
      if (call != &self) {
        call->signaled.store(true, std::memory_order_release);
        call->turn.notify_one();
      }
    }
    if (!calls_.empty()) {
      calls_.front()->signaled.store(true, std::memory_order_release);
      calls_.front()->turn.notify_one();
    }
  }
  --active_;
  lock.unlock();
  if (self.error) std::rethrow_exception(self.error);
}

void GroupCommit::Gather(std::unique_lock<std::mutex>& lock, Call& leader) {
  const size_t expected = peak_active_;
  if (calls_.size() >= expected) return;
  const auto wait = std::min<std::chrono::steady_clock::duration>(last_write_ / 2, kMaxGatherWait);
  leader.turn.wait_for(lock, wait, [&] { return calls_.size() >= expected; });
}

std::vector<GroupCommit::Call*> GroupCommit::FormGroup(Group* group) {
  std::vector<Call*> members;
  const size_t byte_budget = std::max(kMaxGroupBytes, calls_.front()->bytes);
  size_t group_bytes = 0;
  for (Call* call : calls_) {
    if (call->exclusive) break;  // It runs alone, as the next leader.
    if (!members.empty() && group_bytes + call->bytes > byte_budget) break;
    members.push_back(call);
    try {
      call->error = owner_->Admit(group->item_count, call->span.count);
    } catch (...) {
      call->error = std::current_exception();
    }
    if (call->error) continue;
    call->admitted = true;
    group->spans.push_back(call->span);
    group->item_count += call->span.count;
    group->payload_bytes += call->bytes;
    group_bytes += call->bytes;
  }
  return members;
}

}  // namespace rocksq
