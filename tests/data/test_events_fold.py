"""Folding live events into a dataset for retraining: indices stay put, erased users are forgotten."""

from __future__ import annotations

import numpy as np
import pytest

from recstrata.data.events import with_events
from recstrata.errors import DataError


def test_events_are_appended_and_existing_users_and_items_keep_their_indices(blocks):
    ds, _ = blocks
    out, stats = with_events(ds, ["3", "new-user"], ["3", "12"], [1.0, 2.0], [10.0, 20.0])
    assert stats == {"events": 2, "unknown_items": 0, "new_users": 1, "forgotten_users": 0,
                     "forgotten_interactions": 0}
    assert out.n_users == ds.n_users + 1 and out.n_items == ds.n_items
    np.testing.assert_array_equal(out.user_ids.external[: ds.n_users], ds.user_ids.external)
    assert out.item_ids is ds.item_ids
    assert 3 in out.user_items[3].indices and 3 not in ds.user_items[3].indices  # user 3 had missed item 3
    assert out.user_items[ds.n_users].indices.tolist() == [12]  # the new user, appended last
    assert len(out) == len(ds) + 2


def test_forgotten_users_lose_their_dataset_interactions_and_attributes_but_keep_their_row(blocks):
    ds, _ = blocks
    before = ds.user_items[5].nnz
    out, stats = with_events(ds, ["5", "6"], ["1", "2"], [1.0, 1.0], [1.0, 2.0], forget={"5", "unknown"})
    assert stats["forgotten_users"] == 1 and stats["forgotten_interactions"] == before
    assert stats["events"] == 2  # what user 5 did after the erasure is new data
    assert out.user_items[5].indices.tolist() == [1] and out.user_ids.to_index(["5"])[0] == 5
    row = out.users.iloc[5]
    assert row["user_id"] == "5" and row[["gender", "age"]].isna().all()
    assert out.users.iloc[6]["gender"] == ds.users.iloc[6]["gender"]


def test_events_on_items_outside_the_catalog_are_skipped_and_counted(blocks):
    out, stats = with_events(blocks[0], ["1", "1"], ["3", "no-such-item"], [1, 1], [0, 0])
    assert stats["unknown_items"] == 1 and stats["events"] == 1 and len(out) == len(blocks[0]) + 1


def test_unequal_lengths_are_a_clear_error(blocks):
    with pytest.raises(DataError, match="equal lengths"):
        with_events(blocks[0], ["1"], ["3", "4"], [1.0], [0.0])


def test_forgetting_goes_by_internal_position_not_by_the_table_index(blocks):
    ds, _ = blocks
    shifted = ds.users.copy()
    shifted.index = shifted.index + 1  # a table index that is not 0..n-1 must not matter
    odd = type(ds)(name=ds.name, interactions=ds.interactions, user_ids=ds.user_ids, item_ids=ds.item_ids,
                   items=ds.items, users=shifted, rating_scale=ds.rating_scale, meta=ds.meta)
    out, _ = with_events(odd, [], [], [], [], forget={"5"})
    assert out.users.iloc[5][["gender", "age"]].isna().all()
    assert out.users.iloc[4]["gender"] == ds.users.iloc[4]["gender"] and out.users["age"].dtype.kind in "if"
