# The usage example of the seed README, unchanged but for its path (a
# directory under build/) and the last line, which adds the throughput.
import time
from rocksq import PersistentQueueWithCapacity

# Create a queue that will persist to disk

# try:
#     PersistentQueue.remove_db('/tmp/queue')
# except:
#     pass

q = PersistentQueueWithCapacity('build/seed-example-queue')

start = time.time()
buf = bytes(256 * 1024)

OPS = 8 * 30
RELEASE_GIL = True

print("begin writing")
for i in range(OPS):
    q.push(buf, no_gil=RELEASE_GIL)

print("begin reading")
for i in range(OPS):
    v = q.pop(no_gil=RELEASE_GIL)


end = time.time()

print("Time taken: %f" % (end - start))
print("Throughput: %.1f MB/s (%.1f MB pushed, then popped)"
      % (OPS * len(buf) / 1e6 / (end - start), OPS * len(buf) / 1e6))
