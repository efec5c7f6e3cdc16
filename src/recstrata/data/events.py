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
    interaction and attribute of the users in ``forget``. Events on items outside the catalog are
    dropped and counted (``stats["unknown_items"]``)."""
    users = np.asarray(users, dtype=object).astype(str)
    items = np.asarray(items, dtype=object).astype(str)
    weights = np.asarray(weights, dtype=np.float32)
    timestamps = np.asarray(timestamps, dtype=np.float64)
    if not len(users) == len(items) == len(weights) == len(timestamps):
        raise DataError(f"events need equal lengths: {len(users)} users, {len(items)} items, "
                        f"{len(weights)} weights, {len(timestamps)} timestamps")
    forget = {str(u) for u in forget}
    item_idx = ds.item_ids.to_index(items, missing="mask")
    forgotten_event = np.isin(users, list(forget)) if forget else np.zeros(len(users), bool)
    ok = (item_idx >= 0) & ~forgotten_event
    unknown_items = int(((item_idx < 0) & ~forgotten_event).sum())
    users, item_idx, weights, timestamps = users[ok], item_idx[ok], weights[ok], timestamps[ok]

    known = ds.user_ids.to_index(users, missing="mask")
    new_users = pd.unique(users[known < 0])
    table = ds.users.copy()
    table["user_id"] = table["user_id"].astype(str)
    forget_rows = ds.user_ids.to_index(np.array(sorted(forget), dtype=object), missing="mask")
    forget_rows = forget_rows[forget_rows >= 0]
    attributes = [c for c in table.columns if c != "user_id"]
    if len(forget_rows) and attributes:
        table[attributes] = table[attributes].astype(object)
        table.loc[forget_rows, attributes] = None
    table = pd.concat([table, pd.DataFrame({"user_id": new_users})], ignore_index=True)
    user_map = IdMap(table["user_id"], kind="user")

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
