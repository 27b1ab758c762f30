// Maps rocksq::Error to the Python exceptions of rocksq/_errors.py, one
// type per rocksq::ErrorKind. A new kind gets its line in ErrorClasses.

#include <nanobind/nanobind.h>

#include <exception>

#include "convert.h"
#include "rocksq/error.h"

namespace rocksq_python {

namespace {

// The Python exception classes, imported from rocksq._errors once. The
// references are never released: the translator may run until the
// interpreter exits.
struct ErrorClasses {
  PyObject* base;
  PyObject* queue_full;
  PyObject* storage;
  PyObject* corruption;
  PyObject* already_open;
  PyObject* not_a_queue;
  PyObject* closed;
  PyObject* not_outstanding;
  PyObject* forked_process;
  PyObject* shut_down;
  PyObject* unsupported_format;

  PyObject* For(rocksq::ErrorKind kind) const {
    switch (kind) {
      case rocksq::ErrorKind::kQueueFull: return queue_full;
      case rocksq::ErrorKind::kStorage: return storage;
      case rocksq::ErrorKind::kCorruption: return corruption;
      case rocksq::ErrorKind::kAlreadyOpen: return already_open;
      case rocksq::ErrorKind::kNotAQueue: return not_a_queue;
      case rocksq::ErrorKind::kInvalidArgument: return PyExc_ValueError;
      case rocksq::ErrorKind::kClosed: return closed;
      case rocksq::ErrorKind::kNotOutstanding: return not_outstanding;
      case rocksq::ErrorKind::kForkedProcess: return forked_process;
      case rocksq::ErrorKind::kShutDown: return shut_down;
      case rocksq::ErrorKind::kUnsupportedFormat: return unsupported_format;
    }
    return base;
  }
};

void TranslateError(const std::exception_ptr& error, void* payload) {
  try {
    std::rethrow_exception(error);
  } catch (const rocksq::Error& e) {
    // The message names the queue's path: its bytes decode as a path does.
    PyObject* message = PyUnicode_DecodeFSDefault(e.what());
    if (message == nullptr) return;  // The decoding error is raised instead.
    PyErr_SetObject(static_cast<const ErrorClasses*>(payload)->For(e.kind()), message);
    Py_DECREF(message);
  }
}

}  // namespace

void init_errors(nb::module_&) {
  nb::module_ errors = nb::module_::import_("rocksq._errors");
  auto class_named = [&](const char* name) {
    return nb::object(errors.attr(name)).release().ptr();
  };
  static const ErrorClasses error_classes{
      class_named("RocksQError"),       class_named("QueueFull"),
      class_named("StorageError"),      class_named("CorruptionError"),
      class_named("QueueAlreadyOpen"),  class_named("NotAQueueError"),
      class_named("QueueClosed"),       class_named("NotOutstanding"),
      class_named("ForkedProcessError"), class_named("ShutDown"),
      class_named("UnsupportedFormatError"),
  };
  nb::register_exception_translator(TranslateError, const_cast<ErrorClasses*>(&error_classes));
}

}  // namespace rocksq_python
