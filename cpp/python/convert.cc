// The conversions of convert.h.

#include "convert.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace rocksq_python {

namespace {

constexpr const char* kExpectedItem =
    "expected a bytes-like object with C-contiguous data "
    "(bytes, bytearray, memoryview, array.array, numpy array)";

// Whether the struct-module `format` (NULL: plain bytes) has an 'O' code.
// Field names, written ":name:" inside T{...}, are not codes.
bool HoldsObjectReferences(const char* format) {
  bool in_name = false;
  for (const char* c = format; c != nullptr && *c != '\0'; ++c) {
    if (*c == ':') {
      in_name = !in_name;
    } else if (*c == 'O' && !in_name) {
      return true;
    }
  }
  return false;
}

}  // namespace

PinnedItems::PinnedItems(size_t capacity) : buffers_(std::make_unique<Py_buffer[]>(capacity)) {
  views_.reserve(capacity);
}

PinnedItems::~PinnedItems() {
  for (size_t i = 0; i < views_.size(); ++i) PyBuffer_Release(&buffers_[i]);
}

void PinnedItems::Pin(PyObject* item, const char* function, Py_ssize_t index) {
  Py_buffer& buffer = buffers_[views_.size()];
  auto refuse = [&](const char* why) {
    std::string message = std::string(function) + "(): item ";
    if (index >= 0) message += std::to_string(index) + " ";
    message += std::string("is ") + Py_TYPE(item)->tp_name + why + ", " + kExpectedItem;
    throw nb::type_error(message.c_str());
  };
  if (PyObject_GetBuffer(item, &buffer, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
    const bool has_buffer = PyObject_CheckBuffer(item);
    PyErr_Clear();  // The BufferError, if any, is replaced by the TypeError.
    refuse(has_buffer ? " whose data is not C-contiguous" : "");
  }
  // Object references (a NumPy dtype=object array) are addresses, valid
  // only in this process: stored, they would read back as garbage.
  if (HoldsObjectReferences(buffer.format)) {
    PyBuffer_Release(&buffer);
    refuse(" holding Python object references (buffer format 'O'), not data");
  }
  views_.emplace_back(static_cast<const char*>(buffer.buf), static_cast<size_t>(buffer.len));
}

PinnedItems PinItem(nb::handle item, const char* function) {
  PinnedItems pinned(1);
  pinned.Pin(item.ptr(), function, -1);
  return pinned;
}

PinnedItems PinItems(nb::handle items, const char* function) {
  // A tuple snapshot of a list: an item's buffer export may run Python code
  // that changes the list, which must not move what is being walked.
  nb::object snapshot;
  if (PyTuple_Check(items.ptr())) {
    snapshot = nb::borrow(items);
  } else if (PyList_Check(items.ptr())) {
    snapshot = nb::steal(PyList_AsTuple(items.ptr()));
    if (!snapshot.is_valid()) throw nb::python_error();
  } else {
    const std::string message = std::string(function) + "(): items is " +
                                Py_TYPE(items.ptr())->tp_name +
                                ", expected a list or tuple of bytes-like objects";
    throw nb::type_error(message.c_str());
  }
  const Py_ssize_t count = PyTuple_GET_SIZE(snapshot.ptr());
  PinnedItems pinned(static_cast<size_t>(count));
  for (Py_ssize_t i = 0; i < count; ++i) {
    pinned.Pin(PyTuple_GET_ITEM(snapshot.ptr(), i), function, i);
  }
  return pinned;
}

uint64_t ToCount(nb::handle value) {
  nb::object index = nb::steal(PyNumber_Index(value.ptr()));
  if (!index.is_valid()) throw nb::python_error();
  const unsigned long long count = PyLong_AsUnsignedLongLong(index.ptr());
  if (count == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
    throw nb::python_error();
  }
  return count;
}

uint64_t ToCount(nb::handle value, const char* name) {
  try {
    return ToCount(value);
  } catch (nb::python_error& error) {
    // The same exception type, with the option's name in front.
    const std::string message = std::string(name) + ": " + nb::str(error.value()).c_str();
    error.restore();
    PyObject* type = PyErr_Occurred();
    PyErr_SetString(type, message.c_str());
    throw nb::python_error();
  }
}

size_t ToItemCount(nb::handle max_items) {
  return static_cast<size_t>(
      std::min<uint64_t>(ToCount(max_items), std::numeric_limits<size_t>::max()));
}

bool ToFlag(nb::handle value, const char* name) {
  if (value.ptr() == Py_True) return true;
  if (value.ptr() == Py_False) return false;
  const std::string message =
      std::string(name) + " must be True or False, not " + Py_TYPE(value.ptr())->tp_name;
  throw nb::type_error(message.c_str());
}

std::string ToAttachGroup(nb::handle value) {
  if (value.is_none()) return {};
  if (PyUnicode_Check(value.ptr())) {
    Py_ssize_t size = 0;
    const char* text = PyUnicode_AsUTF8AndSize(value.ptr(), &size);
    if (text == nullptr) throw nb::python_error();
    std::string group(text, static_cast<size_t>(size));
    if (group.empty()) throw nb::value_error("attach_group must not be empty (None: no group)");
    return group;
  }
  if (PyLong_Check(value.ptr()) && !PyBool_Check(value.ptr())) {
    const long long gid = PyLong_AsLongLong(value.ptr());
    if (gid == -1 && PyErr_Occurred()) throw nb::python_error();
    if (gid < 0) throw nb::value_error("attach_group must not be a negative gid");
    return std::to_string(gid);
  }
  const std::string message =
      std::string("attach_group must be a group name, a gid or None, not ") +
      Py_TYPE(value.ptr())->tp_name;
  throw nb::type_error(message.c_str());
}

nb::object AttachGroupValue(const std::string& group) {
  if (group.empty()) return nb::none();
  return nb::str(group.c_str(), group.size());
}

std::string ToPath(nb::handle path) {
  nb::object native_path = nb::steal(PyOS_FSPath(path.ptr()));
  if (!native_path.is_valid()) throw nb::python_error();
  PyObject* encoded = nullptr;
  if (!PyUnicode_FSConverter(native_path.ptr(), &encoded)) throw nb::python_error();
  nb::object bytes = nb::steal(encoded);  // Released on return.
  return std::string(PyBytes_AS_STRING(bytes.ptr()),
                     static_cast<size_t>(PyBytes_GET_SIZE(bytes.ptr())));
}

nb::str FromPathBytes(const std::string& bytes) {
  PyObject* text =
      PyUnicode_DecodeFSDefaultAndSize(bytes.data(), static_cast<Py_ssize_t>(bytes.size()));
  if (text == nullptr) throw nb::python_error();
  return nb::steal<nb::str>(text);
}

std::string ToLabel(nb::handle label, const char* function) {
  if (!PyUnicode_Check(label.ptr())) {
    const std::string message = std::string(function) + "(): label must be a str, not " +
                                Py_TYPE(label.ptr())->tp_name;
    throw nb::type_error(message.c_str());
  }
  nb::object utf8 =
      nb::steal(PyUnicode_AsEncodedString(label.ptr(), "utf-8", "surrogateescape"));
  if (!utf8.is_valid()) throw nb::python_error();
  return std::string(PyBytes_AS_STRING(utf8.ptr()),
                     static_cast<size_t>(PyBytes_GET_SIZE(utf8.ptr())));
}

nb::str ToLabelStr(const std::string& name) {
  PyObject* text = PyUnicode_DecodeUTF8(name.data(), static_cast<Py_ssize_t>(name.size()),
                                        "surrogateescape");
  if (text == nullptr) throw nb::python_error();
  return nb::steal<nb::str>(text);
}

nb::list ToStrList(const std::vector<std::string>& names) {
  nb::list result;
  for (const std::string& name : names) result.append(ToLabelStr(name));
  return result;
}

std::chrono::milliseconds ToTtl(nb::handle ttl) {
  if (PyBool_Check(ttl.ptr()) || !PyIndex_Check(ttl.ptr())) {
    const std::string message = std::string("ttl must be an int number of seconds, not ") +
                                Py_TYPE(ttl.ptr())->tp_name;
    throw nb::type_error(message.c_str());
  }
  nb::object index = nb::steal(PyNumber_Index(ttl.ptr()));
  if (!index.is_valid()) throw nb::python_error();
  int overflow = 0;
  const long long seconds = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
  if (seconds == -1 && PyErr_Occurred()) throw nb::python_error();
  const long long max_seconds = TtlSeconds(rocksq::kMaxTtl);
  if (overflow < 0 || (overflow == 0 && seconds < 1)) {
    const std::string message = std::string("ttl must be a positive number of seconds, got ") +
                                nb::str(index).c_str();
    throw nb::value_error(message.c_str());
  }
  if (overflow > 0 || seconds > max_seconds) {
    const std::string message = "ttl must be at most " + std::to_string(max_seconds) +
                                " seconds, got " + nb::str(index).c_str();
    throw nb::value_error(message.c_str());
  }
  return std::chrono::seconds(seconds);
}

int64_t TtlSeconds(std::chrono::milliseconds ttl) {
  return std::chrono::duration_cast<std::chrono::seconds>(ttl).count();
}

std::chrono::milliseconds ToVisibilityTimeout(nb::handle value) {
  // A real number: anything float() takes but a str or bytes (a float,
  // an int, numpy.float32, Decimal), and not a bool.
  PyNumberMethods* number = Py_TYPE(value.ptr())->tp_as_number;
  if (PyBool_Check(value.ptr()) || number == nullptr ||
      (number->nb_float == nullptr && number->nb_index == nullptr)) {
    const std::string message =
        std::string("visibility_timeout must be a number of seconds, not ") +
        Py_TYPE(value.ptr())->tp_name;
    throw nb::type_error(message.c_str());
  }
  double seconds = PyFloat_AsDouble(value.ptr());
  if (seconds == -1.0 && PyErr_Occurred()) {
    if (!PyErr_ExceptionMatches(PyExc_OverflowError)) throw nb::python_error();
    // An int too large for a float: out of range, as +inf is.
    PyErr_Clear();
    seconds = std::numeric_limits<double>::infinity();
  }
  if (!(seconds >= 0) || seconds > 1e12) {
    const std::string message =
        "visibility_timeout must be between 0 and 1e12 seconds, got " + std::to_string(seconds);
    throw nb::value_error(message.c_str());
  }
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(seconds));
  // A positive timeout shorter than a millisecond still expires.
  return seconds > 0 && timeout.count() == 0 ? std::chrono::milliseconds(1) : timeout;
}

double Seconds(std::chrono::milliseconds duration) {
  return std::chrono::duration<double>(duration).count();
}

rocksq::StartPosition ToStartPosition(nb::handle value, const char* function) {
  // Looked up once, on the first call, after the module bound the type:
  // next() is a hot path, and the type lives as long as the module.
  static PyTypeObject* const start_position_type =
      reinterpret_cast<PyTypeObject*>(nb::type<rocksq::StartPosition>().ptr());
  // The enum's own members only: an int with the same value is refused.
  if (!PyObject_TypeCheck(value.ptr(), start_position_type)) {
    const std::string message = std::string(function) +
                                "(): start_position must be rocksq.StartPosition.Oldest or "
                                ".Newest, not " +
                                Py_TYPE(value.ptr())->tp_name;
    throw nb::type_error(message.c_str());
  }
  // A member is an int (an IntEnum) whose value is its enumerator's.
  return static_cast<rocksq::StartPosition>(PyLong_AsLong(value.ptr()));
}

nb::list ToList(const rocksq::PoppedItems& items) {
  nb::list result = nb::steal<nb::list>(PyList_New(static_cast<Py_ssize_t>(items.size())));
  if (!result.is_valid()) throw nb::python_error();
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string_view item = items[i];
    PyObject* bytes =
        PyBytes_FromStringAndSize(item.data(), static_cast<Py_ssize_t>(item.size()));
    if (bytes == nullptr) throw nb::python_error();
    PyList_SET_ITEM(result.ptr(), static_cast<Py_ssize_t>(i), bytes);
  }
  return result;
}

}  // namespace rocksq_python
