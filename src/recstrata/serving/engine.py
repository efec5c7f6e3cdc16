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
import pandas as pd
import scipy.sparse as sp

from recstrata.data.dataset import Dataset
from recstrata.errors import ArtifactError, ConfigError, DataError
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


def check_fits(model, dataset: Dataset, label: str) -> None:
    """Refuse (``ArtifactError``) a model built for another catalog: its item indices would name other
    items. It may know more users than ``dataset`` (a retraining with events appends new users after
    the existing ones, see :func:`recstrata.data.events.with_events`), never fewer.

    Models fitted or saved since fingerprints record ``catalog_`` (:attr:`Dataset.catalog_fingerprint`:
    a hash of the item ids in index order), so another catalog of the same size is refused too;
    older artefacts are checked by size only."""
    n_items, n_users = getattr(model, "n_items_", None), getattr(model, "n_users_", None)
    fix = f"serve a model trained on {dataset.name!r} (recstrata train --dataset ...), or serve its own dataset"
    if n_items is not None and n_items != dataset.n_items:
        raise ArtifactError(f"model {label} was built for {n_items} items, but the served dataset {dataset.name!r} "
                            f"has {dataset.n_items}: {fix}")
    if n_users is not None and n_users < dataset.n_users:
        raise ArtifactError(f"model {label} knows {n_users} users, fewer than the {dataset.n_users} of the served "
                            f"dataset {dataset.name!r}: {fix}")
    catalog = getattr(model, "catalog_", None)
    if catalog is not None and catalog != dataset.catalog_fingerprint:
        raise ArtifactError(f"model {label} was built for another catalog than the served dataset {dataset.name!r} "
                            f"(its item ids differ, or their order: fingerprint {catalog} vs "
                            f"{dataset.catalog_fingerprint}): {fix}")


def through_index(model, index: str | None, *, required: bool = True):
    """``model`` served by an ANN index of kind ``index`` (a :class:`VectorRetriever` around it), or
    itself when ``index`` is None, it already is one, or it is a blended pipeline (it retrieves
    through its own sources; make those ``ann`` models to put them behind an index). A model
    without item vectors raises ``ConfigError`` when ``required``, else is served as it is."""
    from recstrata.retrieval.base import Recommender
    from recstrata.retrieval.vector import VectorRetriever

    if index is None or isinstance(model, VectorRetriever) or hasattr(model, "recommend_explained"):
        return model
    has_vectors = type(model).query_vectors is not Recommender.query_vectors and model.item_vectors() is not None
    if not has_vectors and not required:
        return model
    return VectorRetriever.wrap(model, index=index)


@dataclass(frozen=True)
class GenreIndex:
    """The catalog's (item, genre) pairs, genres matched in any case. Built with the engine, never by
    a request: ~0.4 s at 1M items would stall the event loop."""

    item: np.ndarray  # (pairs,) item index
    code: np.ndarray  # (pairs,) genre code
    codes: dict[str, int]  # lower-cased genre -> code
    counts: dict[str, int]  # lower-cased genre -> how many items have it, the most common first

    @classmethod
    def build(cls, genres: list[tuple[str, ...]]) -> GenreIndex:
        lengths = np.fromiter((len(gs) for gs in genres), np.int64, len(genres))
        flat = [g.lower() for gs in genres for g in gs]
        code, names = pd.factorize(pd.Series(flat, dtype=object)) if flat else (np.zeros(0, np.int64), [])
        counts = np.bincount(code, minlength=len(names))
        return cls(np.repeat(np.arange(len(lengths)), lengths), np.asarray(code),
                   {name: j for j, name in enumerate(names)},
                   {names[j]: int(counts[j]) for j in np.argsort(-counts, kind="stable")})

    def items_with(self, genre: str) -> np.ndarray:
        return self.item[self.code == self.codes.get(genre.lower(), -1)]


class Engine:
    """Serves one live model. ``index`` (an ANN index kind, e.g. ``"sq8"``) wraps every live model in a
    :class:`~recstrata.retrieval.vector.VectorRetriever`, so a request is one index search instead of
    scoring the catalog; None scores densely with the model itself.

    Start-up is vectorised over the catalog (a 1M-item catalog must not be walked row by row with
    pandas), and per-request work does not grow with the catalog except inside the model's search.
    """

    def __init__(self, dataset: Dataset, live: LiveModel, *, index: str | None = None) -> None:
        self.dataset = dataset
        self.index = index
        self.live = self._prepare(live)
        self.popularity = Popularity().fit(dataset)
        # items by descending popularity, ties to the lower index (as a dense top-k would break them)
        self._pop_order = np.argsort(-self.popularity.counts_, kind="stable")
        self._pop_rank = np.empty_like(self._pop_order)
        self._pop_rank[self._pop_order] = np.arange(len(self._pop_order))
        self._overlay: dict[str, list[int]] = {}
        self._erased: set[str] = set()
        self._lock = threading.Lock()
        self._train_history = dataset.histories()
        self._allow = lru_cache(maxsize=256)(self._allow_list)
        # hot-path lookups as plain dicts/lists: pandas indexing costs ~50 us a call
        self._item_ext = [str(x) for x in dataset.item_ids.external]
        self._item_idx = dict(zip(self._item_ext, range(len(self._item_ext)), strict=True))
        self._user_idx = dict(zip((str(x) for x in dataset.user_ids.external), range(dataset.n_users)))
        # item metadata as column lists; item_info builds the small dict on demand
        items = dataset.items
        self._titles = items["title"].tolist()
        self._genres = items["genres"].tolist()
        self._years = items["year"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        self._genre_index = GenreIndex.build(self._genres)

    #: catalogs up to this size are scored densely in well under a millisecond
    INLINE_MAX_ITEMS = 100_000

    #: whether a request is cheap enough to run on the event loop: dense scoring of a small catalog
    #: (~0.3 ms of numpy) or a sublinear index search. Flat scans of large catalogs go to the thread
    #: pool instead, where faiss/numpy release the GIL and other requests keep being served. Set with
    #: the live model.
    runs_inline: bool

    # ---- live state -----------------------------------------------------------------------------
    def _prepare(self, live: LiveModel) -> LiveModel:
        from recstrata.retrieval.vector import VectorRetriever

        check_fits(live.model, self.dataset, f"{live.name}/{live.version}")
        live = LiveModel(through_index(live.model, self.index), live.version, live.name)
        if isinstance(live.model, VectorRetriever):
            # graph and partition searches (~0.3-0.7 ms at 1M) run on the event loop too: a thread-pool
            # hop and the GIL hand-off cost as much; flat scans (2-10 ms at 1M) go to the pool
            self.runs_inline = live.model.index_.sublinear
        else:
            self.runs_inline = self.dataset.n_items <= self.INLINE_MAX_ITEMS
        return live

    def swap(self, live: LiveModel) -> None:
        """Serve ``live`` from now on; ``ArtifactError`` (the old model stays) if it does not fit the catalog."""
        self.live = self._prepare(live)

    def add_event(self, user_id: str, item_id: str) -> None:
        idx = int(self.item_index(item_id))
        with self._lock:
            # an erased user who comes back starts from these new events only (the erasure stays)
            self._overlay.setdefault(user_id, []).append(idx)

    def erase(self, user_id: str) -> None:
        with self._lock:
            self._overlay.pop(user_id, None)
            self._erased.add(user_id)

    def item_index(self, item_id: str, field: str | None = None) -> int:
        """The item's internal index; ``DataError`` naming ``field`` (the request's) if the catalog lacks it."""
        idx = self._item_idx.get(item_id)
        if idx is None:
            raise DataError(f"unknown item id {item_id!r}{f' in {field}' if field else ''}: it is not in the catalog")
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
        keep = np.ones(self.dataset.n_items, bool)
        if genre is not None:
            has = np.zeros_like(keep)
            has[self._genre_index.items_with(genre)] = True
            keep &= has
        years = self._years
        if year_min is not None:
            keep &= years >= year_min
        if year_max is not None:
            keep &= years <= year_max
        allow = np.flatnonzero(keep).copy()  # flatnonzero returns a view; an owning array can be cached
        allow.setflags(write=False)  # shared by every request with this filter; ANN indexes cache its bitmap
        return allow

    def genres(self) -> dict[str, int]:
        """The catalog's genres (lower case) and how many items have each, the most common first."""
        return self._genre_index.counts

    def _popular(self, k: int, allow: np.ndarray | None, hidden: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Popularity top-k over allowed, not hidden items: O(k + len(hidden)) without an allow-list."""
        order = self._pop_order if allow is None else allow[np.argsort(self._pop_rank[allow], kind="stable")]
        head = order[: k + len(hidden)]
        if hidden:
            head = head[~np.isin(head, hidden)]
        ids = head[:k].astype(np.int64)
        return ids[None, :], self.popularity.counts_[ids][None, :]

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
            hist = [self.item_index(i, "recent_items") for i in history]
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
        exclude_idx = [self.item_index(i, "exclude") for i in filters.exclude]
        cold = known is None and not hist
        model = self.popularity if cold else live.model
        excl = None
        if exclude_idx:
            excl = sp.csr_matrix((np.ones(len(exclude_idx)), ([0] * len(exclude_idx), exclude_idx)), shape=(1, n_items))
        sources = None
        if allow is not None and len(allow) == 0:
            ids, scores = np.zeros((1, 0), np.int64), np.zeros((1, 0), np.float32)
        else:
            kk = k if allow is None else min(k, len(allow))
            if cold:  # nothing seen: only the explicit exclusions hide items
                ids, scores = self._popular(kk, allow, exclude_idx)
            else:
                who = {"users": [known]} if known is not None else {"histories": [hist]}
                explained = getattr(model, "recommend_explained", None)  # a blended pipeline
                if explained is not None:
                    out = explained(k=kk, exclude_seen=True, exclude=excl, candidates=allow, **who)
                    ids, scores = out.ids, out.scores
                    sources = [out.sources_of(0, j) for j in range(ids.shape[1])]
                else:
                    ids, scores = model.recommend(k=kk, exclude_seen=True, exclude=excl, candidates=allow, **who)
                if known is None and not self.popularity.counts_[hist].any() \
                        and not np.any(scores[0][ids[0] >= 0]):
                    # a history of items nobody interacted with, which the model could not place either
                    # (a content-aware model can): its all-zero scores would list the catalog in index
                    # order, where popularity is the better guess. Decided by the history first, so a
                    # filter leaving only zero-scored items never turns a warm request cold
                    ids, scores = self._popular(kk, allow, exclude_idx + hist)
                    cold, sources = True, None
        keep = ids[0] >= 0
        if sources is None:
            sources = [["pop" if cold else live.name]] * len(keep)
        sources = [src for src, ok in zip(sources, keep.tolist()) if ok]
        ids, scores = ids[0][keep], scores[0][keep]
        return RecResult(
            item_ids=[self._item_ext[i] for i in ids.tolist()],
            indices=ids.tolist(),
            known_user=known,
            scores=[float(s) for s in scores],
            sources=sources,
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

    def similar(self, item_id: str, k: int) -> tuple[list[str], list[float], str]:
        """Ids and scores of the items most like ``item_id``, and who answered: the live model's name,
        or for a blended pipeline the name of its source that did."""
        idx = self.item_index(item_id)
        live = self.live
        k = min(k, self.dataset.n_items - 1)
        explained = getattr(live.model, "similar_items_explained", None)
        if explained is not None:
            ids, scores, source = explained([idx], k=k)
        else:
            (ids, scores), source = live.model.similar_items([idx], k=k), live.name
        keep = ids[0] >= 0
        return ([self._item_ext[i] for i in ids[0][keep].tolist()],
                [float(s) for s in scores[0][keep]], source)

    def item_info(self, idx: int) -> dict:
        year = self._years[idx]
        return {"id": self._item_ext[idx], "title": self._titles[idx], "genres": list(self._genres[idx]),
                "year": None if np.isnan(year) else int(year)}
