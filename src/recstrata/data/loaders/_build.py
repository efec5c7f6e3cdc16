"""Assemble a validated :class:`Dataset` from typed columns."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from recstrata.data.dataset import MISSING_TIMESTAMP, Dataset, IdMap, Interactions
from recstrata.data.loaders._frames import present_cells
from recstrata.errors import DataError

ITEM_COLUMNS = ("item_id", "title", "genres", "year", "text")


def normalise_items(items: pd.DataFrame | None) -> pd.DataFrame | None:
    """Give an item table the standard columns (a duplicate id is refused by :class:`IdMap`, naming the
    row; loaders of item files check first, naming the file and line)."""
    if items is None:
        return None
    items = items.copy()
    items["item_id"] = items["item_id"].astype(str)
    items["title"] = _text_cells(items["title"] if "title" in items else [None] * len(items), None, items.index)
    if "genres" not in items:
        items["genres"] = [() for _ in range(len(items))]
    items["genres"] = [tuple(g) if isinstance(g, (list, tuple)) else () for g in items["genres"]]
    items["year"] = pd.array(items["year"] if "year" in items else [None] * len(items), dtype="Int64")
    items["text"] = _text_cells(items["text"] if "text" in items else [None] * len(items), "", items.index)
    return items


def _text_cells(values, missing: str | None, index: pd.Index) -> pd.Series:
    """A text column as plain strings, ``missing`` where a cell is None, NaN / NA / NaT or blank (an
    item table built in Python may carry pandas' NaN, which ``str()`` would turn into the text "nan").
    Vectorised: a 1M-item catalog is normalised at every load."""
    cells = pd.Series(list(values) if not isinstance(values, pd.Series) else values.to_numpy(), index=index,
                      dtype=object)
    text = cells.astype(str).to_numpy(dtype=object)
    return pd.Series(np.where(present_cells(cells), text, missing), index=index, dtype=object)


def build_dataset(
    name: str,
    *,
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray | None,
    timestamps: np.ndarray | None,
    item_table: pd.DataFrame | None = None,
    user_table: pd.DataFrame | None = None,
    source: str | None = None,
    unknown_items: Literal["raise", "drop"] = "raise",
    rating_scale: tuple[float, float] | None = None,
    meta: dict | None = None,
    first_line: int = 2,
) -> Dataset:
    """Build a dataset; ids are strings. The catalog's order fixes internal item indices.

    ``rating_scale`` is the scale the source gives ratings on, when it defines one (MovieLens: 0.5
    to 5 stars); ``meta["rating_scale_declared"]`` records that it was given. Without it the scale
    is the observed min to max: a description of this sample (which may miss the top star, or be
    all 1 in implicit data), not a rule a new rating must follow. ``first_line`` is the line of
    ``source`` that holds the first interaction (2 under a header line), for error messages.
    """
    meta = dict(meta or {}) | {"rating_scale_declared": rating_scale is not None}
    if len(users) == 0:
        raise DataError("no interactions: the file has a header but no rows", file=source)
    item_table = normalise_items(item_table)
    if item_table is None:
        item_table = normalise_items(pd.DataFrame({"item_id": pd.unique(items)}))
    item_map = IdMap(item_table["item_id"], kind="item")
    item_idx = item_map.to_index(items, missing="mask")
    if (item_idx < 0).any():
        unknown = item_idx < 0
        row = int(np.flatnonzero(unknown)[0])
        if unknown_items == "raise":
            raise DataError(
                f"item id {items[row]!r} is not in the item catalog ({int(unknown.sum())} such rows); "
                "fix the catalog or load with unknown_items='drop'",
                file=source,
                row=row + first_line,
                column="item_id",
            )
        keep = ~unknown
        if not keep.any():
            raise DataError(f"no interactions left after dropping the {len(keep)} row(s) whose item is not in the "
                            "item catalog: check that the catalog and the interactions use the same item ids",
                            file=source)
        meta["dropped_unknown_items"] = int(unknown.sum())
        users, items, item_idx = users[keep], items[keep], item_idx[keep]
        ratings = None if ratings is None else ratings[keep]
        timestamps = None if timestamps is None else timestamps[keep]

    if user_table is None:
        user_table = pd.DataFrame({"user_id": pd.unique(users)})
    else:
        user_table = user_table.copy()
        user_table["user_id"] = user_table["user_id"].astype(str)
        extra = pd.Index(pd.unique(users)).difference(pd.Index(user_table["user_id"]))
        if len(extra):  # users with events but no profile row: keep them, attributes missing
            user_table = pd.concat([user_table, pd.DataFrame({"user_id": extra})], ignore_index=True)
    user_map = IdMap(user_table["user_id"], kind="user")
    inter = Interactions.from_arrays(
        user_map.to_index(users),
        item_idx,
        None if ratings is None else ratings,
        None if timestamps is None else np.where(np.isnan(timestamps), MISSING_TIMESTAMP, timestamps)
        if timestamps.dtype.kind == "f"
        else timestamps,
    )
    if ratings is not None and rating_scale is None:
        rating_scale = (float(np.min(ratings)), float(np.max(ratings)))
    return Dataset(
        name=name,
        interactions=inter,
        user_ids=user_map,
        item_ids=item_map,
        items=item_table.reset_index(drop=True),
        users=user_table.reset_index(drop=True),
        rating_scale=rating_scale,
        meta=meta,
    )
