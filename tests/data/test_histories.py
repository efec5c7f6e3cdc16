"""Per-user histories: time order, ties in file order, timestamps aligned with the items."""

from __future__ import annotations

import numpy as np

from recstrata.data.dataset import Interactions


def test_histories_and_their_timestamps_line_up():
    from tests_support import tiny_dataset

    ds = tiny_dataset([[0, 1, 2, 3], [4, 5]], 6)
    # user 0's events in file order: items 0..3 at 30, 10, 30, 20; user 1's: 4, 5 at 7, 7
    inter = ds.interactions
    ds = ds.with_interactions(Interactions.from_arrays(inter.user, inter.item, inter.weight,
                                                       np.array([30, 10, 30, 20, 7, 7], np.int64)))
    assert [list(h) for h in ds.histories()] == [[1, 3, 0, 2], [4, 5]]
    assert [list(t) for t in ds.history_timestamps()] == [[10, 20, 30, 30], [7, 7]]
    assert [list(t) for t in ds.history_timestamps([1])] == [[7, 7]]
