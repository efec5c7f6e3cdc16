"""The in-memory ``Dataset``: interactions + item catalog + user table with stable id maps.

External ids (whatever the source file uses) are kept as strings; models work on dense
internal indices ``0..n-1``. A ``Dataset`` is immutable: its arrays are read-only and
"changes" (splits, filters) build new datasets that share the same id maps, so internal
indices mean the same item in the train, validation and test parts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recstrata.errors import DataError

MISSING_TIMESTAMP = np.iinfo(np.int64).min


class IdMap:
    """A stable two-way map between external ids (strings) and internal indices ``0..n-1``."""

    __slots__ = ("_index", "kind")

    def __init__(self, ids: Iterable[object], kind: str = "id") -> None:
        values = pd.Index([str(x) for x in ids], dtype=object)
        if not values.is_unique:
            row = int(np.flatnonzero(values.duplicated())[0])
            first = int(np.flatnonzero(values == values[row])[0])
            raise DataError(f"duplicate {kind} id {values[row]!r} at row {row + 1} of the {kind} table (also row "
                            f"{first + 1}): each {kind} must appear once")
        self._index = values
        self.kind = kind

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, external: object) -> bool:
        return str(external) in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self._index.equals(other._index)

    def __hash__(self) -> int:  # identity is what matters for sharing maps
        return id(self)

    @property
    def external(self) -> np.ndarray:
        """All external ids, in internal-index order."""
        return self._index.to_numpy()

    def to_index(self, ids: Iterable[object] | object, *, missing: Literal["raise", "mask"] = "raise") -> np.ndarray:
        """External ids -> internal indices (int64). Unknown ids raise, or give -1 with ``missing="mask"``."""
        scalar = isinstance(ids, (str, int, np.integer))
        keys = [str(ids)] if scalar else [str(x) for x in ids]  # type: ignore[union-attr]
        idx = self._index.get_indexer(keys).astype(np.int64)
        if missing == "raise" and (idx < 0).any():
            bad = keys[int(np.flatnonzero(idx < 0)[0])]
            raise DataError(f"unknown {self.kind} id {bad!r}: it is not in this dataset")
        return idx

    def to_external(self, indices: Iterable[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        return self._index.to_numpy()[idx]


@dataclass(frozen=True)
class Interactions:
    """Parallel arrays, one row per event: user index, item index, weight (rating or 1), timestamp."""

    user: np.ndarray  # (N,) int32
    item: np.ndarray  # (N,) int32
    weight: np.ndarray  # (N,) float32: the rating when the source has one, else 1
    timestamp: np.ndarray  # (N,) int64 unix seconds; MISSING_TIMESTAMP when unknown

    def __post_init__(self) -> None:
        n = len(self.user)
        for name in ("item", "weight", "timestamp"):
            if len(getattr(self, name)) != n:
                raise DataError(f"interaction arrays differ in length: user has {n}, {name} has {len(getattr(self, name))}")
        for arr in (self.user, self.item, self.weight, self.timestamp):
            arr.flags.writeable = False

    @classmethod
    def from_arrays(cls, user, item, weight=None, timestamp=None) -> Interactions:
        user = np.asarray(user, dtype=np.int32)
        n = len(user)
        return cls(
            user=user.copy(),
            item=np.asarray(item, dtype=np.int32).copy(),
            weight=np.ones(n, np.float32) if weight is None else np.asarray(weight, dtype=np.float32).copy(),
            timestamp=(
                np.full(n, MISSING_TIMESTAMP, np.int64) if timestamp is None else np.asarray(timestamp, np.int64).copy()
            ),
        )

    def __len__(self) -> int:
        return len(self.user)

    def take(self, rows: np.ndarray) -> Interactions:
        """The subset of rows given by a boolean mask or an index array."""
        return Interactions.from_arrays(self.user[rows], self.item[rows], self.weight[rows], self.timestamp[rows])

    @property
    def has_timestamps(self) -> bool:
        return bool(len(self.timestamp)) and not (self.timestamp == MISSING_TIMESTAMP).any()


@dataclass(frozen=True, eq=False)
class Dataset:
    """Interactions with an item catalog and a user table.

    ``items`` has one row per internal item index with at least ``item_id``, ``title`` (str or
    None), ``genres`` (tuple of str), ``year`` (nullable Int64) and ``text`` columns; ``users``
    one row per internal user index with ``user_id`` and optional attribute columns.
    """

    name: str
    interactions: Interactions
    user_ids: IdMap
    item_ids: IdMap
    items: pd.DataFrame
    users: pd.DataFrame
    rating_scale: tuple[float, float] | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.items) != len(self.item_ids):
            raise DataError(f"{self.name}: item table has {len(self.items)} rows but {len(self.item_ids)} item ids")
        if len(self.users) != len(self.user_ids):
            raise DataError(f"{self.name}: user table has {len(self.users)} rows but {len(self.user_ids)} user ids")
        inter = self.interactions
        if len(inter) and (inter.user.max() >= len(self.user_ids) or inter.item.max() >= len(self.item_ids)):
            raise DataError(f"{self.name}: interactions reference user/item indices outside the id maps")

    # ---- sizes -------------------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.interactions)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}: {len(self):,} interactions, {self.n_users:,} users, "
            f"{self.n_items:,} items)"
        )

    # ---- matrices ----------------------------------------------------------------------------------
    @cached_property
    def user_items(self) -> sp.csr_matrix:
        """Binary user x item CSR matrix (1 where the user interacted; duplicates collapse to 1)."""
        return self.matrix("binary")

    def matrix(self, weighting: Literal["binary", "count", "rating"] = "binary") -> sp.csr_matrix:
        """User x item CSR matrix (float32) with the chosen cell values."""
        inter = self.interactions
        data = inter.weight if weighting == "rating" else np.ones(len(inter), np.float32)
        m = sp.csr_matrix(
            (data, (inter.user, inter.item)), shape=(self.n_users, self.n_items), dtype=np.float32
        )
        m.sum_duplicates()
        if weighting == "binary":
            m.data[:] = 1.0
        m.sort_indices()
        return m

    @cached_property
    def catalog_fingerprint(self) -> str:
        """A short hash of the item ids in index order: models record it when fitted, so a model can be
        checked against a catalog it is served with (same size is not enough: index i must be the same
        item). Split parts and retrainings with new events share it (they share the item map)."""
        digest = hashlib.sha256("\x1f".join(map(str, self.item_ids.external)).encode("utf-8"))
        return digest.hexdigest()[:16]

    @cached_property
    def item_counts(self) -> np.ndarray:
        """Number of distinct users who interacted with each item (float64, length n_items)."""
        return np.asarray(self.user_items.sum(axis=0)).ravel().astype(np.float64)

    @cached_property
    def genre_matrix(self) -> tuple[sp.csr_matrix, list[str]]:
        """Item x genre binary CSR matrix and the genre names (from ``items.genres``)."""
        genres = self.items["genres"].tolist()
        lengths = np.fromiter((len(gs) for gs in genres), np.int64, len(genres))
        flat = [g for gs in genres for g in gs]
        names = sorted(set(flat))
        cols = pd.Categorical(flat, categories=names).codes.astype(np.int64) if flat else np.zeros(0, np.int64)
        rows = np.repeat(np.arange(len(genres)), lengths)
        m = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols)), shape=(self.n_items, len(names)), dtype=np.float32
        )
        m.sum_duplicates()  # an item listing a genre twice stays binary below
        m.data[:] = 1.0
        return m, names

    # ---- derived datasets --------------------------------------------------------------------------
    def with_interactions(self, interactions: Interactions, name: str | None = None) -> Dataset:
        """A dataset with the same catalog, users and id maps but other interactions (a split part)."""
        return Dataset(
            name=name or self.name,
            interactions=interactions,
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            items=self.items,
            users=self.users,
            rating_scale=self.rating_scale,
            meta=self.meta,
        )

    def histories(self, users: Sequence[int] | np.ndarray | None = None) -> list[np.ndarray]:
        """Per-user item indices in time order (ties keep file order)."""
        return self._per_user(self.interactions.item, users)

    def history_timestamps(self, users: Sequence[int] | np.ndarray | None = None) -> list[np.ndarray]:
        """Per-user timestamps aligned with :meth:`histories` (``MISSING_TIMESTAMP`` where unknown)."""
        return self._per_user(self.interactions.timestamp, users)

    def _per_user(self, values: np.ndarray, users) -> list[np.ndarray]:
        inter = self.interactions
        order = np.lexsort((np.arange(len(inter)), inter.timestamp, inter.user))
        u, v = inter.user[order], values[order]
        bounds = np.searchsorted(u, np.arange(self.n_users + 1))
        wanted = range(self.n_users) if users is None else users
        return [v[bounds[x] : bounds[x + 1]] for x in wanted]

    def item_text(self, index: int) -> str:
        """A one-line text of an item for embedding / prompting: title, year, genres, free text."""
        row = self.items.iloc[index]
        parts = [str(row["title"]) if row["title"] else f"item {row['item_id']}"]
        if pd.notna(row["year"]):
            parts[0] += f" ({int(row['year'])})"
        if row["genres"]:
            parts.append("genres: " + ", ".join(row["genres"]))
        if row.get("text"):
            parts.append(str(row["text"]))
        return "; ".join(parts)
