// RocksQ: persistent queues of byte strings over RocksDB. Include this one
// header to get the whole public API.

#ifndef ROCKSQ_ROCKSQ_H_
#define ROCKSQ_ROCKSQ_H_

#include "rocksq/ack_queue.h"
#include "rocksq/change_fd.h"
#include "rocksq/error.h"
#include "rocksq/fifo_queue.h"
#include "rocksq/mpmc_queue.h"
#include "rocksq/popped_items.h"
#include "rocksq/process.h"

#endif  // ROCKSQ_ROCKSQ_H_
