#include "group_commit.h"

#include <algorithm>

namespace rocksq {
namespace {

// A group gathers calls up to this many payload bytes (or the first call's
// size, if larger): enough to amortise a WAL write and an fsync over many
// small pushes, little enough to bound what a follower waits for.
constexpr size_t kMaxGroupBytes = 1 << 20;

}  // namespace

GroupCommit::Call::Call(const std::string_view* items, size_t count) : span{items, count} {
  for (size_t i = 0; i < count; ++i) bytes += items[i].size();
}

void GroupCommit::Append(const std::string_view* items, size_t count) {
  Call self(items, count);
  std::unique_lock<std::mutex> lock(mutex_);
  calls_.push_back(&self);
  self.turn.wait(lock, [&] { return self.done || calls_.front() == &self; });
  if (!self.done) {
    Group group;
    std::vector<Call*> members = FormGroup(&group);
    rocksdb::Status status = rocksdb::Status::OK();
    std::exception_ptr failure;
    if (group.item_count != 0) {
      lock.unlock();
      try {
        status = owner_->WriteGroup(group);
      } catch (...) {  // std::bad_alloc while encoding: the group fails.
        failure = std::current_exception();
      }
      lock.lock();
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
      if (call != &self) call->turn.notify_one();
    }
    if (!calls_.empty()) calls_.front()->turn.notify_one();
  }
  if (self.error) std::rethrow_exception(self.error);
}

std::vector<GroupCommit::Call*> GroupCommit::FormGroup(Group* group) {
  std::vector<Call*> members;
  const size_t byte_budget = std::max(kMaxGroupBytes, calls_.front()->bytes);
  size_t group_bytes = 0;
  for (Call* call : calls_) {
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
