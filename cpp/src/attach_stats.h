// The kStats operation of the attach protocol (attach_wire.h): what an
// owner tells `rocksq stats` (InspectOwner, rocksq/inspect.h) about its
// queue and the processes attached to it.
//
// The reply's body, little-endian (docs/format.rst, "Attach protocol"):
//   u32 owner pid, string version, u32 kind (the Hello's numbering), string
//   queue id, u64 length, u64 payload bytes, u64 disk bytes, i64 age of the
//   oldest item in microseconds (-1: unknown or none), u8 1 if that age is
//   a lower bound (age_marks.h), u32 count, then count x
//   (u32 pid, u32 uid, u32 connections).
// Strings are a u32 length, then the bytes. The request's body is empty.

#ifndef ROCKSQ_SRC_ATTACH_STATS_H_
#define ROCKSQ_SRC_ATTACH_STATS_H_

#include <string>
#include <string_view>

#include "rocksq/inspect.h"

namespace rocksq {

// `stats.kind` is a QueueSnapshot kind ("fifo", "mpmc", "ack").
std::string EncodeOwnerStats(const QueueOwner& stats);
// Sets `answered`; throws kStorage if `body` is malformed.
QueueOwner DecodeOwnerStats(std::string_view body, const std::string& path);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ATTACH_STATS_H_
