"""The count the chaos tests rest on finds each kind of damage."""

from tally import Tally, item, tally


def test_a_complete_ordered_stream_counts_clean() -> None:
    payloads = [item("a", 0), item("b", 0), item("a", 1), item("b", 1)]
    assert tally({"a": 2, "b": 2}, payloads) == Tally(4, 0, 0, 0, 0)


def test_losses_duplicates_reorderings_and_strangers_are_each_counted() -> None:
    payloads = [item("a", 1), item("a", 0), item("a", 1), item("c", 0)]
    assert tally({"a": 3}, payloads) == Tally(items=3, lost=1, duplicates=1, out_of_order=1,
                                              unexpected=1)
