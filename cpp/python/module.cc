// rocksq._core: the one place Python meets the C++ core. Each area binds in
// its own file; this one only names them. The bindings convert arguments
// and results (convert.h), release the GIL around calls that touch the disk
// or wait, and map rocksq::Error to the exceptions of rocksq/_errors.py
// (errors.cc). Queue behaviour lives in the core; API shapes live in the
// Python faces (rocksq/).

#include <nanobind/nanobind.h>

namespace nb = nanobind;

namespace rocksq_python {
void init_errors(nb::module_& m);   // errors.cc: rocksq::Error -> rocksq._errors
void init_options(nb::module_& m);  // options.cc: the queues' options, StartPosition
void init_worker(nb::module_& m);   // worker.cc: PendingOperation (rocksq.nonblocking)
void init_fifo(nb::module_& m);     // fifo.cc: FifoQueue
void init_mpmc(nb::module_& m);     // mpmc.cc: MpmcQueue
void init_ack(nb::module_& m);      // ack.cc: AckQueue
void init_inspect(nb::module_& m);  // inspect.cc: inspect_queue, check_queue, peek_items
void init_build_info(nb::module_& m);  // build_info.cc: build_info
}  // namespace rocksq_python

NB_MODULE(_core, m) {
  m.doc() = "The C++ core of RocksQ. Use the rocksq package, not this module.";

#ifdef NDEBUG
  // A daemon thread may still be using a queue when the interpreter exits;
  // nanobind would report that queue as a leak, alarming users for nothing.
  nb::set_leak_warnings(false);
#endif

#ifdef ROCKSQ_VERSION
  m.attr("__version__") = ROCKSQ_VERSION;
#endif

  // The types the queue classes' signatures name (StartPosition,
  // PendingOperation) are bound before them.
  rocksq_python::init_errors(m);
  rocksq_python::init_options(m);
  rocksq_python::init_worker(m);
  rocksq_python::init_fifo(m);
  rocksq_python::init_mpmc(m);
  rocksq_python::init_ack(m);
  rocksq_python::init_inspect(m);
  rocksq_python::init_build_info(m);
}
