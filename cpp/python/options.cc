// Binds the queues' options (rocksq::FifoOptions, MpmcOptions, AckOptions)
// and rocksq::StartPosition as Python types. Every default is the C++
// in-class initialiser's: the queue classes and the Python faces read their
// defaults from these types, and declare none of their own. Fields take
// the units and the checks of the queues' constructors: seconds for
// durations, 0.3.0's errors for bad values.

#include <nanobind/nanobind.h>

#include "convert.h"
#include "rocksq/rocksq.h"

namespace rocksq_python {

namespace {

// The setter's value arrives as any object, None included, so that a bad
// one raises the queue constructors' own error for it.
const auto kAnyValue = nb::for_setter(nb::arg("value").none());

template <typename Options>
void BindMaxElements(nb::class_<Options>& options_class, const char* doc) {
  options_class.def_prop_rw(
      "max_elements", [](const Options& options) { return options.max_elements; },
      [](Options& options, nb::handle value) {
        options.max_elements = ToCount(value, "max_elements");
      },
      kAnyValue, doc);
}

template <typename Options>
void BindSync(nb::class_<Options>& options_class) {
  options_class.def_prop_rw(
      "sync", [](const Options& options) { return options.sync; },
      [](Options& options, nb::handle value) { options.sync = ToFlag(value, "sync"); },
      kAnyValue, "Whether each write is fsynced before it returns.");
}

template <typename Options>
void BindAttach(nb::class_<Options>& options_class) {
  options_class.def_prop_rw(
      "attach", [](const Options& options) { return options.attach; },
      [](Options& options, nb::handle value) { options.attach = ToFlag(value, "attach"); },
      kAnyValue, "Whether an open attaches to the process that has the queue open.");
  options_class.def_prop_rw(
      "attach_group",
      [](const Options& options) { return AttachGroupValue(options.attach_group); },
      [](Options& options, nb::handle value) { options.attach_group = ToAttachGroup(value); },
      nb::for_getter(nb::sig("def attach_group(self, /) -> str | None")), kAnyValue,
      "The group whose members may attach besides the owner's user (None: the owner's "
      "user only).");
}

}  // namespace

void init_options(nb::module_& m) {
  auto fifo_options = nb::class_<rocksq::FifoOptions>(
      m, "FifoOptions", "The options of a FIFO queue, holding their defaults.");
  fifo_options.def(nb::init<>());
  BindMaxElements(fifo_options, "The most items the queue holds at once.");
  BindSync(fifo_options);
  BindAttach(fifo_options);

  auto mpmc_options = nb::class_<rocksq::MpmcOptions>(
      m, "MpmcOptions", "The options of an MPMC queue, holding their defaults.");
  mpmc_options.def(nb::init<>())
      .def_prop_rw(
          "ttl", [](const rocksq::MpmcOptions& options) { return TtlSeconds(options.ttl); },
          [](rocksq::MpmcOptions& options, nb::handle value) { options.ttl = ToTtl(value); },
          kAnyValue, "Seconds an element lives after it was added.");
  BindSync(mpmc_options);
  BindAttach(mpmc_options);

  auto ack_options = nb::class_<rocksq::AckOptions>(
      m, "AckOptions", "The options of an ack queue, holding their defaults.");
  ack_options.def(nb::init<>())
      .def_prop_rw(
          "visibility_timeout",
          [](const rocksq::AckOptions& options) { return Seconds(options.visibility_timeout); },
          [](rocksq::AckOptions& options, nb::handle value) {
            options.visibility_timeout = ToVisibilityTimeout(value);
          },
          kAnyValue, "Seconds a handed-out item stays handed out; 0 for ever.")
      .def_prop_rw(
          "dedup_window", [](const rocksq::AckOptions& options) { return options.dedup_window; },
          [](rocksq::AckOptions& options, nb::handle value) {
            options.dedup_window = ToCount(value, "dedup_window");
          },
          kAnyValue, "How many keys of put_unique the queue remembers, the newest.");
  BindMaxElements(ack_options,
                  "The most items the queue holds at once: ready, handed out and failed.");
  BindSync(ack_options);
  BindAttach(ack_options);

  // An IntEnum: members compare equal to rocksq 0.3.0's numbers. nanobind
  // makes str() and repr() both Enum's str(), 'StartPosition.Newest', which
  // is how 0.3.0 printed members (IntEnum's own str() gives the number from
  // Python 3.11 on); repr() goes back to '<StartPosition.Newest: 1>'. Only
  // members are accepted where a start position is asked for
  // (ToStartPosition).
  nb::enum_<rocksq::StartPosition> start_position(
      m, "StartPosition", nb::is_arithmetic(),
      "Where a new reader of a multi-consumer queue starts (rocksq 0.3.0).");
  start_position
      .value("Oldest", rocksq::StartPosition::kOldest, "At the oldest element alive.")
      .value("Newest", rocksq::StartPosition::kNewest,
             "At the newest element alive, or the next one added if none is.");
  start_position.attr("__repr__") = nb::module_::import_("enum").attr("Enum").attr("__repr__");
}

}  // namespace rocksq_python
