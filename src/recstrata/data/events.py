"""Fold live feedback events into a dataset for retraining, and forget erased users.

    ds2, stats = with_events(ds, users, items, weights, timestamps, forget={"42"})

Index stability is the contract: existing users and every item keep their internal indices (new
users are appended after them; a forgotten user stays in the id map with no interactions and no
attributes), so a server that holds the original dataset maps ids to the same rows of a model
trained on the extended one.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from recstrata.data.dataset import Dataset, IdMap, Interactions
from recstrata.errors import DataError


def with_events(ds: Dataset, users, items, weights, timestamps, *, forget: Iterable[str] = ()
                ) -> tuple[Dataset, dict[str, int]]:
    """``ds`` plus the events (external user / item ids, weights, unix timestamps), minus every
    interaction and attribute the dataset holds for the users in ``forget`` (erased). Their events
    given here are kept: an event store deletes a user's events at erasure, so what it still holds
    came afterwards. Events on items outside the catalog are dropped and counted
    (``stats["unknown_items"]``)."""
    users = np.asarray(users, dtype=object).astype(str)
    items = np.asarray(items, dtype=object).astype(str)
    weights = np.asarray(weights, dtype=np.float32)
    timestamps = np.asarray(timestamps, dtype=np.float64)
    if not len(users) == len(items) == len(weights) == len(timestamps):
        raise DataError(f"events need equal lengths: {len(users)} users, {len(items)} items, "
                        f"{len(weights)} weights, {len(timestamps)} timestamps")
    forget = {str(u) for u in forget}
    item_idx = ds.item_ids.to_index(items, missing="mask")
    ok = item_idx >= 0
    unknown_items = int((~ok).sum())
    users, item_idx, weights, timestamps = users[ok], item_idx[ok], weights[ok], timestamps[ok]

    known = ds.user_ids.to_index(users, missing="mask")
    new_users = pd.unique(users[known < 0])
    table = ds.users.reset_index(drop=True)  # row i = internal user i (the Dataset contract), by position
    forget_rows = ds.user_ids.to_index(np.array(sorted(forget), dtype=object), missing="mask")
    forget_rows = forget_rows[forget_rows >= 0]
    if len(forget_rows):
        erased = np.zeros(len(table), bool)
        erased[forget_rows] = True
        # each attribute column becomes missing for them (numbers stay numeric: NaN)
        table = table.assign(**{c: table[c].mask(erased) for c in table.columns if c != "user_id"})
    external = np.concatenate([np.asarray(ds.user_ids.external, dtype=object).astype(str), new_users.astype(str)])
    table = pd.concat([table.assign(user_id=external[: len(table)]), pd.DataFrame({"user_id": new_users})],
                      ignore_index=True)
    user_map = IdMap(external, kind="user")

    old = ds.interactions
    keep = ~np.isin(old.user, forget_rows)
    interactions = Interactions.from_arrays(
        np.concatenate([old.user[keep], user_map.to_index(users)]),
        np.concatenate([old.item[keep], item_idx]),
        np.concatenate([old.weight[keep], weights]),
        np.concatenate([old.timestamp[keep], timestamps.astype(old.timestamp.dtype)]),
    )
    stats = {"events": int(len(users)), "unknown_items": unknown_items,
             "new_users": int(len(new_users)), "forgotten_users": int(len(forget_rows)),
             "forgotten_interactions": int((~keep).sum())}
    meta = dict(ds.meta) | {"events_folded": stats}
    return Dataset(name=f"{ds.name}+events", interactions=interactions, user_ids=user_map, item_ids=ds.item_ids,
                   items=ds.items, users=table, rating_scale=ds.rating_scale, meta=meta), stats
