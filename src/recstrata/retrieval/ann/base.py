"""The ``VectorIndex`` contract and the machinery every index kind shares.

A VectorIndex maps external int64 item ids to vectors and answers batched top-k inner-product
queries. Kinds (exact, HNSW, IVF, IVF-PQ, scalar-quantised flat; see :mod:`.kinds`) differ only in
the faiss index built per shard, its search-time parameters and whether a shortlist is re-ranked
exactly; sharding, filtering, re-ranking, id mapping and save/load live here.

Id mapping: faiss labels are internal row positions 0..n-1 and the external ids live in our own
``ids.npy`` array (not ``IndexIDMap2``). Row positions keep filter bitmaps dense and let each shard
use a zero-copy slice of them; ``ids.npy`` memory-maps on load with no hash table to rebuild.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from recstrata._optional import require
from recstrata.errors import ArtifactError, NotFittedError
from recstrata.retrieval.ann import _validate as V
from recstrata.retrieval.ann.filters import AllowCache, FilterPlan, plan_filters

MANIFEST_KIND = "vector_index"
METRIC = "inner_product"


def faiss_module() -> Any:
    return require("faiss", extra="ann", purpose="recstrata's vector index")


@contextlib.contextmanager
def omp_threads(n: int | None) -> Iterator[None]:
    """Run faiss with ``n`` OpenMP threads in the calling thread, restoring the previous setting."""
    if n is None:
        yield
        return
    faiss = faiss_module()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k best scores per row, best first. scores: (nq, m) -> (nq, k)."""
    m = scores.shape[1]
    if k < m:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(m), scores.shape).copy()
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


class VectorIndex:
    """Inner-product top-k search over vectors with external int64 ids.

    ``__init__`` only stores parameters; :meth:`build` (or :meth:`load`) creates the state, whose
    attributes end in ``_``. ``search`` returns ``(ids, scores)`` of shape (n_queries, k), best
    first; rows with fewer than k results are padded with id -1 and score -inf. Scores of the
    returned items are exact inner products for every kind except ``ivfpq``/``sq8``/``fp16``
    without re-ranking (``refine_factor=None``).
    """

    kind: ClassVar[str] = ""
    #: original float32 vectors are kept in vectors.npy (exact re-rank, exact search of small allowed sets)
    keeps_vectors: ClassVar[bool] = True
    #: a search visits a small part of the catalog (graph or partitions), well under a millisecond
    #: at millions of items; flat scans (exact, sq8, fp16, pq4fs) read every vector: 2-10 ms at 1M
    sublinear: ClassVar[bool] = False
    #: the index finds inner-product neighbours only among vectors of equal norm (it partitions by
    #: direction): callers with vectors of unequal norm (ALS) augment them first, see
    #: ``recstrata.retrieval.vector.equal_norm``
    needs_equal_norm: ClassVar[bool] = False
    #: the faiss index applies filter bitmaps inside its scan; if not, a filtered search fetches
    #: enough extra candidates to cover the disallowed rows and drops them (``_over_fetch``)
    selector_filters: ClassVar[bool] = True

    def __init__(
        self, *, shards: int = 1, threads: int | None = None, filter_exact_below: int = 10_000
    ) -> None:
        self.shards = shards
        self.threads = threads
        self.filter_exact_below = filter_exact_below

    # ----------------------------------------------------------------- hooks for kinds
    def check_params(self) -> None:
        """ConfigError naming a parameter of the wrong type or out of range, for the checks that need
        no vectors (callers may run it before any data is loaded); :meth:`build` also checks those
        that depend on the vectors' count and width."""
        V.positive_int(self.shards, "shards")
        if self.threads is not None:
            V.positive_int(self.threads, "threads")
        V.positive_int(self.filter_exact_below, "filter_exact_below", minimum=0)

    def _check_params(self, n: int, dim: int) -> None:
        """Every check: :meth:`check_params` and those that need ``n`` vectors of width ``dim``."""
        self.check_params()

    def _new_faiss_index(self, faiss: Any, n: int, dim: int) -> Any:
        raise NotImplementedError

    def _train(self, index: Any, vectors: np.ndarray) -> None:
        if not index.is_trained:
            index.train(vectors)

    def _search_params(self, faiss: Any, k: int, selector: Any) -> Any:
        return faiss.SearchParameters(sel=selector) if selector is not None else None

    def _shortlist(self, k: int) -> int:
        """How many candidates the faiss index returns before the exact re-rank (k: no re-rank)."""
        return k

    def _refines(self) -> bool:
        """Whether the shortlist is re-scored exactly from the original vectors."""
        return False

    def _flat_storage(self, shard: Any) -> Any:
        """The faiss IndexFlat holding this shard's original vectors, for kinds that have one."""
        return None

    # ----------------------------------------------------------------- public API
    def get_params(self) -> dict[str, Any]:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @property
    def dim(self) -> int:
        self._check_fitted()
        return self.dim_

    def __len__(self) -> int:
        self._check_fitted()
        return int(self.ids_.shape[0])

    @property
    def ids(self) -> np.ndarray:
        """External ids in row order."""
        self._check_fitted()
        return self.ids_

    def build(self, vectors: Any, ids: Any = None) -> VectorIndex:
        """Index ``vectors`` (n, dim) under external ``ids`` (n,) int64; ``ids=None`` uses row numbers."""
        x = V.as_vectors(vectors, name="vectors")  # (n, d)
        n, dim = x.shape
        ids_arr = V.as_ids(ids, n)
        self._check_params(n, dim)
        faiss = faiss_module()
        bounds = self._shard_bounds(n)
        with omp_threads(self.threads):
            template = self._new_faiss_index(faiss, n, dim)
            self._train(template, x)
            shards = []
            for s in range(len(bounds) - 1):
                index = template if s == len(bounds) - 2 else faiss.clone_index(template)
                index.add(x[bounds[s] : bounds[s + 1]])
                shards.append(index)
        self._set_state(shards, bounds, ids_arr, x if self.keeps_vectors else None, dim)
        return self

    def search(
        self, queries: Any, k: int, *, exclude: Any = None, allow: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k ids (n, k) int64 and scores (n, k) float32 for each query row, best first.

        ``exclude``: ids never returned (e.g. items a user has seen), one list per query or one
        global list; ``allow``: the only ids that may be returned (attribute filters), global or per
        query. See :mod:`recstrata.retrieval.ann.filters` for the accepted forms.
        """
        self._check_fitted()
        q = V.as_vectors(queries, name="queries", dim=self.dim_)  # (nq, d)
        k = V.check_k(k, len(self))
        plan = plan_filters(exclude, allow, q.shape[0], len(self), self._positions_of, self._allow_cache_)
        kk = min(self._shortlist(k), len(self))
        with omp_threads(self.threads):
            if plan is None:
                pos, scores = self._search_shards(q, kk, None)
            elif plan.shared and plan.count(0) > self.filter_exact_below:
                pos, scores = self._search_shards(q, kk, plan.bitmap(0))
            else:  # one selector per query: faiss takes one SearchParameters per call
                pos = np.full((q.shape[0], kk), -1, dtype=np.int64)
                scores = np.full((q.shape[0], kk), -np.inf, dtype=np.float32)
                for i in range(q.shape[0]):
                    if plan.count(i) > self.filter_exact_below:
                        row = slice(i, i + 1)
                        pos[row], scores[row] = self._search_shards(q[row], kk, plan.bitmap(i))
        if self._refines():
            pos, scores = self._rerank(q, pos, k)
        if plan is not None:
            self._exact_fill(q, pos, scores, k, plan)
        ids = np.where(pos >= 0, self.ids_[np.maximum(pos, 0)], -1).astype(np.int64)
        return ids, np.where(pos >= 0, scores, -np.inf).astype(np.float32)

    # ----------------------------------------------------------------- internals
    def _check_fitted(self) -> None:
        if not hasattr(self, "shards_"):
            raise NotFittedError(
                f"{type(self).__name__} is empty: call .build(vectors, ids) or .load(dir) first."
            )

    def _shard_bounds(self, n: int) -> np.ndarray:
        # byte-aligned shard starts so each shard's filter bitmap is a slice of the global one
        size = max(8, math.ceil(n / self.shards / 8) * 8)
        starts = list(range(0, n, size))[: self.shards]
        return np.array([*starts, n], dtype=np.int64)

    def _set_state(self, shards: list, bounds: np.ndarray, ids: np.ndarray, vectors: Any, dim: int) -> None:
        self.shards_, self.bounds_, self.ids_, self.vectors_, self.dim_ = shards, bounds, ids, vectors, dim
        self._identity_ = bool(np.array_equal(ids, np.arange(ids.shape[0])))
        self._sorted_: tuple[np.ndarray, np.ndarray] | None = None
        self._pool_: ThreadPoolExecutor | None = None
        self._allow_cache_ = AllowCache()

    def _positions_of(self, ext: np.ndarray) -> np.ndarray:
        n = len(self)
        if self._identity_:
            return ext[(ext >= 0) & (ext < n)]
        if self._sorted_ is None:
            order = np.argsort(self.ids_, kind="stable")
            self._sorted_ = (order, np.asarray(self.ids_)[order])
        order, sorted_ids = self._sorted_
        at = np.minimum(np.searchsorted(sorted_ids, ext), n - 1)
        return order[at[sorted_ids[at] == ext]]

    def _search_one_shard(self, s: int, q: np.ndarray, kk: int, bitmap: np.ndarray | None, omp: int | None):
        faiss = faiss_module()
        lo, hi = int(self.bounds_[s]), int(self.bounds_[s + 1])
        sel, part = None, None
        if bitmap is not None:
            part = bitmap[lo // 8 : (hi + 7) // 8]  # lo is a multiple of 8
            if self.selector_filters:
                sel = faiss.IDSelectorBitmap(hi - lo, faiss.swig_ptr(part))
        if part is not None and not self.selector_filters:
            return self._over_fetch(s, q, kk, part, omp)
        params = self._search_params(faiss, kk, sel)
        with omp_threads(omp):
            scores, labels = self.shards_[s].search(q, min(kk, hi - lo), params=params)
        labels = np.where(labels >= 0, labels + lo, -1)
        return labels, scores

    def _over_fetch(self, s: int, q: np.ndarray, kk: int, part: np.ndarray, omp: int | None):
        """Filtered search of shard ``s`` for an index without selectors: fetch enough candidates
        that at least ``kk`` are allowed (all of the disallowed rows, or ~1.25 x kk / allowed share
        when that is fewer), then drop the disallowed ones. Rows left short are redone exactly by
        ``_exact_fill``."""
        lo, hi = int(self.bounds_[s]), int(self.bounds_[s + 1])
        size = hi - lo
        allowed = int(np.bitwise_count(part).sum())
        fetch = min(size, kk + (size - allowed), math.ceil(1.25 * kk * size / max(allowed, 1)))
        with omp_threads(omp):
            params = self._search_params(faiss_module(), fetch, None)
            scores, labels = self.shards_[s].search(q, fetch, params=params)
        safe = np.maximum(labels, 0)
        ok = (labels >= 0) & ((part[safe >> 3] >> (safe & 7).astype(np.uint8)) & 1).astype(bool)
        order = np.argsort(~ok, axis=1, kind="stable")[:, :kk]  # allowed first, in score order
        labels = np.where(np.take_along_axis(ok, order, 1), np.take_along_axis(labels, order, 1) + lo, -1)
        return labels, np.take_along_axis(scores, order, 1)

    def _search_shards(
        self, q: np.ndarray, kk: int, bitmap: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        n_shards = len(self.shards_)
        threads = self.threads or faiss_module().omp_get_max_threads()
        # faiss parallelises over queries: one query gains nothing from more OpenMP threads and
        # pays their wake-up (badly, on a busy machine). Shards are the single-query parallelism.
        single = 1 if q.shape[0] == 1 else None
        if n_shards == 1 or threads == 1:
            parts = [self._search_one_shard(s, q, kk, bitmap, single) for s in range(n_shards)]
        else:
            if self._pool_ is None:
                self._pool_ = ThreadPoolExecutor(max_workers=n_shards, thread_name_prefix="recstrata-ann")
            omp = max(1, threads // n_shards)
            parts = list(
                self._pool_.map(lambda s: self._search_one_shard(s, q, kk, bitmap, omp), range(n_shards))
            )
        labels = np.concatenate([p[0] for p in parts], axis=1)
        scores = np.concatenate([p[1] for p in parts], axis=1)
        scores = np.where(labels >= 0, scores, -np.inf)
        if labels.shape[1] != kk:
            best = top_k(scores, kk) if labels.shape[1] > kk else np.argsort(-scores, axis=1, kind="stable")
            labels, scores = np.take_along_axis(labels, best, 1), np.take_along_axis(scores, best, 1)
            if labels.shape[1] < kk:
                pad = kk - labels.shape[1]
                labels = np.pad(labels, ((0, 0), (0, pad)), constant_values=-1)
                scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        return labels, scores.astype(np.float32)

    def _gather(self, pos: np.ndarray) -> np.ndarray:
        """Original float32 vectors of row positions ``pos`` (any shape; entries must be >= 0)."""
        if self.vectors_ is not None:
            return np.asarray(self.vectors_[pos])
        out = np.empty((*pos.shape, self.dim_), dtype=np.float32)
        shard_of = np.searchsorted(self.bounds_, pos, side="right") - 1
        for s in range(len(self.shards_)):
            hit = shard_of == s
            if hit.any():
                out[hit] = self._shard_view(s)[pos[hit] - self.bounds_[s]]
        return out

    def _shard_view(self, s: int) -> np.ndarray:
        """(rows, d) float32 originals of shard ``s`` read in place from faiss's flat storage (the
        kinds that keep no ``vectors_`` copy: exact and HNSW)."""
        faiss = faiss_module()
        size = int(self.bounds_[s + 1] - self.bounds_[s])
        xb = self._flat_storage(self.shards_[s]).get_xb()
        return faiss.rev_swig_ptr(xb, size * self.dim_).reshape(size, self.dim_)

    def _score_all(self, query: np.ndarray) -> np.ndarray:
        """Exact inner products (n,) of one query with every stored vector, read in place."""
        if self.vectors_ is not None:
            return np.asarray(self.vectors_ @ query, dtype=np.float32)
        return np.concatenate([self._shard_view(s) @ query for s in range(len(self.shards_))]).astype(np.float32)

    def _rerank(self, q: np.ndarray, pos: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact inner products of the shortlist ``pos`` (nq, kk); keep the best k per row."""
        safe = np.ascontiguousarray(np.maximum(pos, 0), dtype=np.int64)  # (nq, kk)
        vectors = self.vectors_
        if isinstance(vectors, np.ndarray) and vectors.flags.c_contiguous and vectors.dtype == np.float32:
            # gather + dot in one C pass (no (nq, kk, d) temporary): ~2x faster than numpy here
            faiss = faiss_module()
            scores = np.empty(safe.shape, dtype=np.float32)
            # one query: waking an OpenMP team costs more than the work, and its spinning threads
            # would compete with the shard threads of the next search
            with omp_threads(1 if safe.shape[0] == 1 else None):
                faiss.fvec_inner_products_by_idx(
                    faiss.swig_ptr(scores), faiss.swig_ptr(q), faiss.swig_ptr(vectors), faiss.swig_ptr(safe),
                    self.dim_, safe.shape[0], safe.shape[1],
                )
        else:
            scores = np.einsum("nkd,nd->nk", self._gather(safe), q)  # (nq, kk)
        scores[pos < 0] = -np.inf
        best = top_k(scores, k)
        return np.take_along_axis(pos, best, 1), np.take_along_axis(scores, best, 1).astype(np.float32)

    def _exact_fill(
        self, q: np.ndarray, pos: np.ndarray, scores: np.ndarray, k: int, plan: FilterPlan
    ) -> None:
        """Exact search over the allowed rows where the index came back short (or was skipped).

        Graph and partition indexes can miss results when a filter is very selective; an allowed
        set at most ``filter_exact_below`` rows is searched exactly, and any row still holding fewer
        than min(k, allowed) results is redone exactly, so filters never cost results.
        """
        found = (pos >= 0).sum(axis=1)
        for i in range(q.shape[0]):
            if found[i] >= min(k, plan.count(i)) and plan.count(i) > self.filter_exact_below:
                continue
            pos[i], scores[i] = -1, -np.inf
            count = plan.count(i)
            # an eighth or more of the rows allowed: scoring every row in place and masking beats
            # copying the allowed rows out (measured at 40,000 x 64: gather + dot 0.20 ms at 10% of the
            # rows, 0.39 ms at 20%; every row in place 0.23-0.25 ms)
            if count * 8 >= len(self):
                sc = self._score_all(q[i])  # (n,)
                sc[~plan.mask(i, len(self))] = -np.inf
                best = top_k(sc[None, :], min(k, count))[0]
                pos[i, : best.size], scores[i, : best.size] = best, sc[best]
                continue
            allowed = plan.positions(i, len(self))
            if allowed.size:
                sc = self._gather(allowed) @ q[i]  # (n_allowed,)
                best = top_k(sc[None, :], min(k, allowed.size))[0]
                pos[i, : best.size], scores[i, : best.size] = allowed[best], sc[best]

    # ----------------------------------------------------------------- persistence
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the index atomically into ``directory`` (replaced only once complete)."""
        from recstrata.retrieval.ann.persist import save_index

        self._check_fitted()
        return save_index(self, directory)

    @classmethod
    def load(
        cls, directory: str | os.PathLike[str], *, mmap: bool = True, verify: bool = True
    ) -> VectorIndex:
        """Load a saved index of any kind; ``mmap`` maps files instead of reading them into memory."""
        from recstrata.retrieval.ann.persist import load_index

        index = load_index(directory, mmap=mmap, verify=verify)
        if not isinstance(index, cls):
            raise ArtifactError(
                f"{directory} holds a {index.kind!r} index, not a {cls.kind or cls.__name__}; "
                "load it with VectorIndex.load."
            )
        return index

    def close(self) -> None:
        """Stop the shard thread pool (also done at interpreter exit)."""
        if getattr(self, "_pool_", None) is not None:
            self._pool_.shutdown(wait=True)
            self._pool_ = None
