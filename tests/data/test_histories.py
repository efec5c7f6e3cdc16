"""Per-user histories: time order, ties in file order, timestamps aligned with the items."""

from __future__ import annotations


def test_histories_and_their_timestamps_line_up():
    from tests_support import tiny_dataset, with_timestamps

    # user 0's events in file order: items 0..3 at 30, 10, 30, 20; user 1's: 4, 5 at 7, 7
    ds = with_timestamps(tiny_dataset([[0, 1, 2, 3], [4, 5]], 6), [30, 10, 30, 20, 7, 7])
    assert [list(h) for h in ds.histories()] == [[1, 3, 0, 2], [4, 5]]
    assert [list(t) for t in ds.history_timestamps()] == [[10, 20, 30, 30], [7, 7]]
    assert [list(t) for t in ds.history_timestamps([1])] == [[7, 7]]
