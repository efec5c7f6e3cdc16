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
        idx = self.dataset.item_ids.to_index([item_id], missing="mask")[0]
        if idx < 0:
            raise DataError(f"unknown item id {item_id!r}: it is not in the catalog")
        return int(idx)

    def history(self, user_id: str) -> list[int] | None:
        """Time-ordered item indices known for the user; None for a user we know nothing about."""
        with self._lock:
            if user_id in self._erased:
                return list(self._overlay.get(user_id, [])) or None
            fresh = list(self._overlay.get(user_id, []))
        idx = self.dataset.user_ids.to_index([user_id], missing="mask")[0]
        base = list(self._train_history[idx]) if idx >= 0 else []
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
        if history is not None:
            hist = [self.item_index(i) for i in history]
        else:
            hist = self.history(user_id) if user_id is not None else None
        allow = self._allow(filters.genre, filters.year_min, filters.year_max)
        exclude_idx = [self.item_index(i) for i in filters.exclude]
        cold = not hist
        model = self.popularity if cold else live.model
        # a known user with no events since training: use the model's own user state (e.g. ALS factors)
        known = None
        if user_id is not None and not cold and history is None:
            with self._lock:
                fresh = user_id in self._overlay or user_id in self._erased
            idx = self.dataset.user_ids.to_index([user_id], missing="mask")[0]
            known = int(idx) if idx >= 0 and not fresh and idx < getattr(model, "n_users_", 0) else None
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
            item_ids=[str(x) for x in self.dataset.item_ids.to_external(ids)],
            scores=[float(s) for s in scores],
            sources=[["pop" if cold else live.name]] * len(ids),
            cold_start=cold,
            model_version="pop" if cold else f"{live.name}/{live.version}",
            latency_ms=(time.perf_counter() - start) * 1000,
            history=hist or [],
        )

    def similar(self, item_id: str, k: int) -> tuple[list[str], list[float]]:
        idx = self.item_index(item_id)
        model = self.live.model
        k = min(k, self.dataset.n_items - 1)
        ids, scores = model.similar_items([idx], k=k)
        keep = ids[0] >= 0
        return ([str(x) for x in self.dataset.item_ids.to_external(ids[0][keep])],
                [float(s) for s in scores[0][keep]])

    def item_info(self, idx: int) -> dict:
        row = self.dataset.items.iloc[idx]
        year = row["year"]
        return {"id": str(row["item_id"]), "title": row["title"], "genres": list(row["genres"]),
                "year": None if year is None or year is np.nan or str(year) == "<NA>" else int(year)}
