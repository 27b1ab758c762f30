// Binds rocksq/inspect.h for rocksq.inspection and the `rocksq` command:
// reading a queue's directory without opening the queue. The core call runs
// with the GIL released; the Python objects are built after it.

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <string>
#include <vector>

#include "convert.h"
#include "rocksq/inspect.h"

namespace rocksq_python {

namespace {

nb::list ToPathStrList(const std::vector<std::string>& lines) {
  nb::list result;
  for (const std::string& line : lines) result.append(FromPathBytes(line));
  return result;
}

}  // namespace

void init_inspect(nb::module_& m) {
  m.def(
      "inspect_queue",
      [](nb::handle path) {
        const std::string path_string = ToPath(path);
        const rocksq::QueueSnapshot snapshot =
            Run(true, [&] { return rocksq::InspectQueue(path_string); });
        nb::list labels;
        for (const rocksq::LabelPosition& label : snapshot.labels) {
          nb::dict entry;
          entry["label"] = ToLabelStr(label.label);
          entry["position"] = label.position;
          entry["unread"] = label.unread;
          labels.append(entry);
        }
        nb::dict result;
        result["path"] = FromPathBytes(snapshot.path);
        result["kind"] = snapshot.kind;
        result["format_version"] = snapshot.format_version;
        result["queue_id"] = snapshot.queue_id;
        result["len"] = snapshot.length;
        result["payload_size"] = snapshot.payload_bytes;
        result["disk_size"] = snapshot.disk_bytes;
        result["first_position"] = snapshot.first_position;
        result["end_position"] = snapshot.end_position;
        result["oldest_added_micros"] = snapshot.oldest_added_micros;
        result["newest_added_micros"] = snapshot.newest_added_micros;
        result["labels"] = labels;
        result["failed_len"] = snapshot.failed_length;
        result["failed_payload_size"] = snapshot.failed_payload_bytes;
        result["dropped_records"] = ToPathStrList(snapshot.dropped_records);
        result["last_background_failure"] = FromPathBytes(snapshot.last_background_failure);
        return result;
      },
      nb::arg("path"),
      nb::sig("def inspect_queue(path: str | os.PathLike[str]) -> dict[str, typing.Any]"),
      "The kind, sizes, positions and labels of the queue in `path`, read\n"
      "without opening it (it may be open elsewhere); see rocksq.inspection.");
  m.def(
      "inspect_owner",
      [](nb::handle path) {
        const std::string path_string = ToPath(path);
        const rocksq::QueueOwner owner =
            Run(true, [&] { return rocksq::InspectOwner(path_string); });
        nb::list attached;
        for (const rocksq::AttachedProcess& process : owner.attached) {
          nb::dict entry;
          entry["pid"] = process.pid;
          entry["uid"] = process.uid;
          entry["connections"] = process.connections;
          attached.append(entry);
        }
        nb::dict result;
        result["pid"] = owner.pid;
        result["answered"] = owner.answered;
        result["version"] = owner.version;
        result["attached"] = attached;
        result["len"] = owner.length;
        result["payload_size"] = owner.payload_bytes;
        result["disk_size"] = owner.disk_bytes;
        result["oldest_age_micros"] = owner.oldest_age_micros;
        result["oldest_age_is_lower_bound"] = owner.oldest_age_is_lower_bound;
        result["refusal"] = owner.refusal;
        return result;
      },
      nb::arg("path"),
      nb::sig("def inspect_owner(path: str | os.PathLike[str]) -> dict[str, typing.Any]"),
      "The process that owns the queue in `path`, and what it says of the\n"
      "queue and its attached processes; see rocksq.inspection.");
  m.def(
      "check_queue",
      [](nb::handle path) {
        const std::string path_string = ToPath(path);
        const rocksq::QueueCheck check =
            Run(true, [&] { return rocksq::CheckQueue(path_string); });
        nb::dict result;
        result["path"] = FromPathBytes(check.path);
        result["kind"] = check.kind;
        result["format_version"] = check.format_version;
        result["damage"] = ToPathStrList(check.damage);
        result["dropped_records"] = ToPathStrList(check.dropped_records);
        result["records_checked"] = check.records_checked;
        return result;
      },
      nb::arg("path"),
      nb::sig("def check_queue(path: str | os.PathLike[str]) -> dict[str, typing.Any]"),
      "Checks every file and record of the queue in `path`; see rocksq.inspection.");
  m.def(
      "peek_items",
      [](nb::handle path, nb::handle max_items, nb::handle label_text) {
        const std::string path_string = ToPath(path);
        const std::string label = ToLabel(label_text, "peek_items");
        const size_t count = ToItemCount(max_items);
        const std::vector<rocksq::StoredItem> items =
            Run(true, [&] { return rocksq::PeekItems(path_string, count, label); });
        nb::list result;
        for (const rocksq::StoredItem& item : items) {
          result.append(nb::make_tuple(
              item.position, nb::bytes(item.data.data(), item.data.size()), item.added_micros));
        }
        return result;
      },
      nb::arg("path"), nb::arg("max_items").none(), nb::arg("label"),
      nb::sig("def peek_items(path: str | os.PathLike[str], max_items: int, label: str) "
              "-> list[tuple[int, bytes, int]]"),
      "Up to `max_items` stored items as (position, data, added_micros),\n"
      "oldest first (from `label`'s position unless it is ''), without\n"
      "consuming them. rocksq.inspection.peek() holds the defaults.");
}

}  // namespace rocksq_python
