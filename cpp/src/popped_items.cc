#include "rocksq/popped_items.h"

#include <stdexcept>

#include "popped_items_rep.h"

namespace rocksq {

PoppedItems::PoppedItems() noexcept = default;
PoppedItems::PoppedItems(std::unique_ptr<Rep> rep) noexcept : rep_(std::move(rep)) {}
PoppedItems::PoppedItems(PoppedItems&&) noexcept = default;
PoppedItems& PoppedItems::operator=(PoppedItems&&) noexcept = default;
PoppedItems::~PoppedItems() = default;

PoppedItems PoppedItems::Copy(const std::vector<std::string_view>& items) {
  auto rep = std::make_unique<Rep>();
  rep->copied_ends.reserve(items.size());
  for (std::string_view item : items) {
    rep->copied.append(item);
    rep->copied_ends.push_back(rep->copied.size());
  }
  rep->payload_bytes = rep->copied.size();
  return PoppedItems(std::move(rep));
}

size_t PoppedItems::size() const noexcept { return rep_ ? rep_->size() : 0; }

size_t PoppedItems::payload_bytes() const noexcept { return rep_ ? rep_->payload_bytes : 0; }

std::string_view PoppedItems::operator[](size_t index) const {
  if (index >= size()) throw std::out_of_range("PoppedItems index out of range");
  return rep_->item(index);
}

}  // namespace rocksq
