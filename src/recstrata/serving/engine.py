"""The online recommendation path, independent of HTTP: model + popularity fallback + live
history overlay + filters applied inside retrieval.

A user's fresh events (from ``POST /v1/events``) are kept in an in-memory overlay rebuilt from
the event store at start-up; users with events since training are scored from their history
(train history + new items), so the next answer reflects the event without retraining.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from recstrata.data.dataset import Dataset
from recstrata.errors import ConfigError, DataError
from recstrata.retrieval.base import Recommender
from recstrata.retrieval.popularity import Popularity


@dataclass(frozen=True)
class Filters:
    genre: str | None = None
    year_min: int | None = None
    year_max: int | None = None
    exclude: tuple[str, ...] = ()


@dataclass
class RecResult:
    item_ids: list[str]
    indices: list[int]
    known_user: int | None
    scores: list[float]
    sources: list[list[str]]
    cold_start: bool
    model_version: str
    latency_ms: float
    history: list[int] = field(default_factory=list)


@dataclass
class LiveModel:
    """What a request uses; swapped as a whole on reload (in-flight requests keep their copy)."""

    model: Recommender
    version: str
    name: str


class Engine:
    def __init__(self, dataset: Dataset, live: LiveModel) -> None:
        self.dataset = dataset
        self.live = live
        self.popularity = Popularity().fit(dataset)
        self._overlay: dict[str, list[int]] = {}
        self._erased: set[str] = set()
        self._lock = threading.Lock()
        self._train_history = dataset.histories()
        self._allow = lru_cache(maxsize=256)(self._allow_list)
        # hot-path lookups as plain dicts/lists: pandas indexing costs ~50 us a call
        self._item_idx = {str(x): i for i, x in enumerate(dataset.item_ids.external)}
        self._user_idx = {str(x): i for i, x in enumerate(dataset.user_ids.external)}
        self._item_ext = [str(x) for x in dataset.item_ids.external]
        self._info = [self._describe(i) for i in range(dataset.n_items)]

    # ---- live state -----------------------------------------------------------------------------
    def swap(self, live: LiveModel) -> None:
        self.live = live

    def add_event(self, user_id: str, item_id: str) -> None:
        idx = int(self.item_index(item_id))
        with self._lock:
            self._overlay.setdefault(user_id, []).append(idx)
            self._erased.discard(user_id)

    def erase(self, user_id: str) -> None:
        with self._lock:
            self._overlay.pop(user_id, None)
            self._erased.add(user_id)

    def item_index(self, item_id: str) -> int:
        idx = self._item_idx.get(item_id)
        if idx is None:
            raise DataError(f"unknown item id {item_id!r}: it is not in the catalog")
        return idx

    def user_index(self, user_id: str) -> int | None:
        return self._user_idx.get(user_id)

    def history(self, user_id: str) -> list[int] | None:
        """Time-ordered item indices known for the user; None for a user we know nothing about."""
        with self._lock:
            if user_id in self._erased:
                return list(self._overlay.get(user_id, [])) or None
            fresh = list(self._overlay.get(user_id, []))
        idx = self._user_idx.get(user_id)
        base = self._train_history[idx].tolist() if idx is not None else []
        return (base + fresh) or None

    # ---- filters ---------------------------------------------------------------------------------
    def _allow_list(self, genre: str | None, year_min: int | None, year_max: int | None) -> np.ndarray | None:
        if genre is None and year_min is None and year_max is None:
            return None
        items = self.dataset.items
        keep = np.ones(len(items), bool)
        if genre is not None:
            keep &= np.array([genre.lower() in (g.lower() for g in gs) for gs in items["genres"]])
        years = items["year"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        if year_min is not None:
            keep &= years >= year_min
        if year_max is not None:
            keep &= years <= year_max
        return np.flatnonzero(keep)

    # ---- recommend -------------------------------------------------------------------------------
    def recommend(self, *, user_id: str | None = None, history: list[str] | None = None, k: int = 10,
                  filters: Filters = Filters()) -> RecResult:
        start = time.perf_counter()
        live = self.live
        n_items = self.dataset.n_items
        if k <= 0:
            raise ConfigError(f"k must be positive, got {k}")
        k = min(k, n_items)  # a small catalog answers with what it has
        known = None  # a known user with no events since training: the model's own user state
        if history is not None:
            hist = [self.item_index(i) for i in history]
        else:
            idx = self._user_idx.get(user_id) if user_id is not None else None
            with self._lock:
                fresh = user_id in self._overlay or user_id in self._erased
            if idx is not None and not fresh and idx < getattr(live.model, "n_users_", 0) \
                    and len(self._train_history[idx]):
                known, hist = idx, None
            else:
                hist = self.history(user_id) if user_id is not None else None
        allow = self._allow(filters.genre, filters.year_min, filters.year_max)
        exclude_idx = [self.item_index(i) for i in filters.exclude]
        cold = known is None and not hist
        model = self.popularity if cold else live.model
        excl = None
        if exclude_idx:
            excl = sp.csr_matrix((np.ones(len(exclude_idx)), ([0] * len(exclude_idx), exclude_idx)), shape=(1, n_items))
        if allow is not None and len(allow) == 0:
            ids, scores = np.zeros((1, 0), np.int64), np.zeros((1, 0), np.float32)
        else:
            kk = k if allow is None else min(k, len(allow))
            who = {"users": [known]} if known is not None else {"histories": [hist or []]}
            ids, scores = model.recommend(k=kk, exclude_seen=True, exclude=excl, candidates=allow, **who)
        keep = ids[0] >= 0
        ids, scores = ids[0][keep], scores[0][keep]
        return RecResult(
            item_ids=[self._item_ext[i] for i in ids.tolist()],
            indices=ids.tolist(),
            known_user=known,
            scores=[float(s) for s in scores],
            sources=[["pop" if cold else live.name]] * len(ids),
            cold_start=cold,
            model_version="pop" if cold else f"{live.name}/{live.version}",
            latency_ms=(time.perf_counter() - start) * 1000,
            history=hist or [],
        )

    def history_of(self, result: RecResult) -> list[int]:
        """The history a result was computed from (resolved lazily for known users)."""
        if result.known_user is not None:
            return self._train_history[result.known_user].tolist()
        return result.history

    def similar(self, item_id: str, k: int) -> tuple[list[str], list[float]]:
        idx = self.item_index(item_id)
        model = self.live.model
        k = min(k, self.dataset.n_items - 1)
        ids, scores = model.similar_items([idx], k=k)
        keep = ids[0] >= 0
        return ([self._item_ext[i] for i in ids[0][keep].tolist()],
                [float(s) for s in scores[0][keep]])

    def item_info(self, idx: int) -> dict:
        return self._info[idx]

    def _describe(self, idx: int) -> dict:
        row = self.dataset.items.iloc[idx]
        year = row["year"]
        return {"id": str(row["item_id"]), "title": row["title"], "genres": list(row["genres"]),
                "year": None if str(year) == "<NA>" else int(year)}
