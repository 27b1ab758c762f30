// A connection's shared-memory lane (docs/format.rst, "Attach protocol";
// docs/design/many-processes.md, stage 3): the second carrier of the frames
// an attached process and the owner exchange, for those that fit in it.
//
// A socket round trip costs each side a send and a receive, system calls
// that took most of an attached call's time. Through the lane, a frame is a
// copy into memory both processes map and a counter they poll: no system
// call while both poll. The socket stays the carrier of the greeting and of
// frames too large for the lane, what tells either side the other is gone,
// and the doorbell that wakes a side that stopped polling and sleeps on it.
//
// The owner makes each lane (a sealed memfd, so that the client can neither
// shrink it under the owner nor grow it) and passes it with the Welcome. A
// lane carries one request at a time, as its connection does:
//   client: writes the request frame, posts its number; if the owner
//           sleeps, rings (a kLaneDoorbell frame on the socket).
//   owner:  sees the number move, copies the frame out and checks it as a
//           received one; writes the reply frame and posts the request's
//           number as answered (or, for a reply too large, sends it on the
//           socket and posts it as sent there); if the client sleeps,
//           rings.
// Each side says it sleeps, then looks once more before it does: of a post
// and a "sleeping", one side always sees the other's (both fenced), so no
// post is left unseen by a sleeper.
//
// Nothing a client writes in its lane is trusted: the owner copies a header
// before reading it and bounds the body by the lane's size.

#ifndef ROCKSQ_SRC_ATTACH_LANE_H_
#define ROCKSQ_SRC_ATTACH_LANE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "attach_wire.h"

namespace rocksq {

class SharedLane {
 public:
  // The most a frame (header and body) carried by a lane may take, each
  // way: single calls and batches of small items. Larger ones go on the
  // socket.
  static constexpr size_t kFrameCapacity = 64 * 1024;

  // The owner's side: a new lane, and its memfd in `*fd` to pass to the
  // client (the caller closes it once sent). Null if the system gives none
  // (no memfd, no memory): the connection then carries every frame on its
  // socket.
  static std::unique_ptr<SharedLane> Create(int* fd);
  // The client's side: maps the lane of memfd `fd`, which it takes (closes).
  // Null if `fd` is not a lane (too small, not sealed against shrinking).
  static std::unique_ptr<SharedLane> Map(int fd);
  ~SharedLane();
  SharedLane(const SharedLane&) = delete;
  SharedLane& operator=(const SharedLane&) = delete;

  // Sends the doorbell (kLaneDoorbell, a header alone) on `fd`, the
  // connection's socket: false if the peer closed it; throws as SendFrame.
  static bool Ring(int fd, const std::string& path);

  // Whether a frame of `body_bytes` of body fits.
  static bool Fits(uint64_t body_bytes) { return body_bytes <= kFrameCapacity - kFrameHeaderBytes; }

  // --- The client's side.

  // Writes `header` and `body` (which Fits) as the next request and posts
  // it. Returns whether the owner slept: the client then rings.
  bool PostRequest(const FrameHeader& header, const std::vector<std::string_view>& body);
  // Whether the reply to the last posted request is posted.
  bool ReplyPosted() const;
  // Whether that reply was sent on the socket instead; else ReadReply
  // copies it out, false if its header does not check out.
  bool ReplyOnSocket() const;
  bool ReadReply(FrameHeader* header, std::string* body) const;
  // Before the client sleeps on its socket: says so, and returns whether
  // the reply is posted after all (then it need not sleep).
  bool ClientSleeps();
  // After: returns whether the owner woke it, ringing (or about to): one
  // doorbell per "sleeping" the owner sees, so none is left unread.
  bool ClientWakes();

  // --- The owner's side.

  // Whether a request is posted that the owner has not taken.
  bool RequestPosted() const;
  // Copies the posted request out, header then body, into `*frame`, and
  // takes it (RequestPosted turns false until the next). False if its
  // header declares more than the lane holds: the client breaks the
  // protocol.
  bool TakeRequest(std::string* frame);
  // Writes the reply (which Fits) to the request taken last and posts it.
  // Returns whether the client slept: the owner then rings.
  bool PostReply(const FrameHeader& header, const std::vector<std::string_view>& body);
  // Posts the reply to the request taken last as sent on the socket (after
  // it was): a client asleep there reads it, so no doorbell.
  void PostReplyOnSocket();
  // Before the owner sleeps (true), and after (false). Sleeping returns
  // whether a request came meanwhile (then it need not sleep).
  bool OwnerSleeps(bool sleeps);

 private:
  struct Control;
  explicit SharedLane(void* memory);
  Control* control() const;
  char* request_frame() const;
  char* reply_frame() const;

  void* const memory_;  // kLaneBytes (attach_lane.cc).
  uint64_t next_request_ = 1;  // The client's.
  uint64_t taken_ = 0;         // The owner's: the last request taken.
};

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ATTACH_LANE_H_
