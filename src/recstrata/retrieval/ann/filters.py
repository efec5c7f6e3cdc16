"""Turn ``exclude`` / ``allow`` arguments into per-query bitmaps that faiss checks inside the search.

Filtering happens *inside* the index scan (``faiss.IDSelectorBitmap`` passed through
``SearchParameters``), never by dropping rows after a top-k truncation, so a query still gets k
results whenever k allowed items exist. Bitmaps are over internal row positions (0..n-1, bit i of
byte i // 8, little-endian bit order as faiss expects); shards cover byte-aligned row ranges, so a
shard's selector is a zero-copy slice of the global bitmap.

Accepted forms for both arguments:

* ``None``: no filter;
* a flat 1-D array / list of ids: one list applied to every query (global);
* a sequence with one entry (array-like of ids, or None) per query;
* a CSR pair ``(indptr, ids)`` with ``len(indptr) == n_queries + 1``.

Ids that are not in the index are ignored (a seen item may have left the catalogue).
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recstrata.errors import ConfigError

Lookup = Callable[[np.ndarray], np.ndarray]  # external ids -> internal positions (unknown dropped)


@dataclass
class FilterPlan:
    """Packed bitmaps of allowed rows: one shared by all queries, or one per query."""

    bitmaps: list[np.ndarray]  # uint8, ceil(n / 8) bytes each
    counts: np.ndarray  # (len(bitmaps),) number of allowed rows
    shared: bool  # True: bitmaps[0] applies to every query
    _positions: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def bitmap(self, q: int) -> np.ndarray:
        return self.bitmaps[0 if self.shared else q]

    def count(self, q: int) -> int:
        return int(self.counts[0 if self.shared else q])

    def mask(self, q: int, n: int) -> np.ndarray:
        """(n,) bool: the rows query ``q`` may return."""
        return np.unpackbits(self.bitmap(q), count=n, bitorder="little").astype(bool)

    def positions(self, q: int, n: int) -> np.ndarray:
        """Allowed row positions of query ``q`` (for exact search over a small allowed set)."""
        key = 0 if self.shared else q
        if key not in self._positions:
            self._positions[key] = np.flatnonzero(self.mask(q, n)).astype(np.int64)
        return self._positions[key]


def _id_array(value: Any, what: str) -> np.ndarray:
    arr = np.asarray(value if value is not None else [], dtype=np.float64 if value is None else None)
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(
            f"{what} must hold integer item ids (a 1-D list/array), got dtype {arr.dtype} "
            f"and shape {arr.shape}."
        )
    return arr.astype(np.int64, copy=False)


def _parse(value: Any, n_queries: int, what: str) -> tuple[bool, list[np.ndarray]] | None:
    """Return (per_query, [id arrays]) or None when there is no filter."""
    if value is None:
        return None
    if isinstance(value, tuple) and len(value) == 2 and all(np.ndim(v) == 1 for v in value):
        indptr, ids = np.asarray(value[0]), _id_array(value[1], what)
        if indptr.shape[0] != n_queries + 1 or indptr[0] != 0 or indptr[-1] != ids.shape[0]:
            raise ConfigError(
                f"{what} given as CSR (indptr, ids) needs len(indptr) == n_queries + 1 = {n_queries + 1}, "
                f"indptr[0] == 0 and indptr[-1] == len(ids); got len(indptr)={indptr.shape[0]}."
            )
        return True, [ids[indptr[i] : indptr[i + 1]] for i in range(n_queries)]
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype != object:
        return False, [_id_array(value, what)]
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        nested = [v is None or np.ndim(v) >= 1 for v in value]
        if value and all(nested):
            if len(value) != n_queries:
                raise ConfigError(
                    f"{what} has {len(value)} per-query lists but there are {n_queries} queries; "
                    "pass one list per query, or a flat list of ids to apply to every query."
                )
            return True, [_id_array(v, f"{what}[{i}]") for i, v in enumerate(value)]
        if not any(nested):
            return False, [_id_array(value, what)]
    raise ConfigError(
        f"{what} must be None, a flat list of ids, one list of ids per query, or a CSR pair (indptr, ids); "
        f"got {type(value).__name__}."
    )


#: above this many positions a dense bool mask + packbits (~1 ms per 1M rows) beats ufunc.at (~20 ms per 300k)
DENSE_SET_ABOVE = 4096


def _set_bits(bitmap: np.ndarray, pos: np.ndarray, value: bool) -> None:
    if len(pos) > DENSE_SET_ABOVE:
        mask = np.zeros(len(bitmap) * 8, dtype=bool)
        mask[pos] = True
        packed = np.packbits(mask, bitorder="little")
        if value:
            bitmap |= packed
        else:
            bitmap &= ~packed
        return
    masks = np.left_shift(1, pos & 7).astype(np.uint8)
    if value:
        np.bitwise_or.at(bitmap, pos >> 3, masks)
    else:
        np.bitwise_and.at(bitmap, pos >> 3, ~masks)


@functools.lru_cache(maxsize=4)
def full_bitmap(n: int) -> np.ndarray:
    """All n rows allowed; cached and read-only (0.05 ms a call at 1M rows): callers copy it."""
    bitmap = np.packbits(np.ones(n, dtype=bool), bitorder="little")
    bitmap.setflags(write=False)
    return bitmap


class AllowCache:
    """Bitmaps of global allow-lists that cannot change, reused while the list object lives.

    A server answers the same attribute filter (genre, year range) many times with the same cached
    id array; building its bitmap costs ~0.64 ms at 1M rows for a 300k-item list, 0.045 ms cached
    (a non-identity id lookup adds a searchsorted). Only a read-only 1-D integer array that owns its
    data is cached, keyed by the object; its entry is dropped when the array is freed. Contract: a cached array is never made writable again (numpy lets the
    owner do that; the serving engine never does) — anything else is built per call.
    """

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[int, tuple[weakref.ref, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def cacheable(value: Any) -> bool:
        return (isinstance(value, np.ndarray) and value.ndim == 1 and value.base is None
                and not value.flags.writeable and np.issubdtype(value.dtype, np.integer))

    def get(self, value: np.ndarray, build: Callable[[], np.ndarray]) -> np.ndarray:
        key = id(value)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0]() is value:
                self._entries.move_to_end(key)
                return hit[1]
        bitmap = build()
        bitmap.setflags(write=False)
        with self._lock:
            self._entries[key] = (weakref.ref(value, lambda _ref, key=key: self._drop(key, _ref)), bitmap)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return bitmap

    def _drop(self, key: int, ref: weakref.ref) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] is ref:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


def plan_filters(exclude: Any, allow: Any, n_queries: int, n: int, lookup: Lookup,
                 cache: AllowCache | None = None) -> FilterPlan | None:
    """Combine ``allow`` (rows that may be returned) and ``exclude`` (rows that may not) into bitmaps.
    ``cache`` reuses the bitmap of a read-only global ``allow`` array (see :class:`AllowCache`)."""
    ex = _parse(exclude, n_queries, "exclude")
    al = _parse(allow, n_queries, "allow")
    if ex is None and al is None:
        return None

    def build(ids: np.ndarray) -> np.ndarray:
        bm = np.zeros((n + 7) // 8, dtype=np.uint8)
        _set_bits(bm, lookup(ids), True)
        return bm

    if al is None:
        base = [full_bitmap(n)]
    elif cache is not None and not al[0] and AllowCache.cacheable(allow):
        base = [cache.get(allow, lambda: build(al[1][0]))]
    else:
        base = [build(ids) for ids in al[1]]
    shared = (al is None or not al[0]) and (ex is None or not ex[0])
    if ex is None:
        bitmaps = base
    elif shared:
        bitmaps = [base[0].copy()]
        _set_bits(bitmaps[0], lookup(ex[1][0]), False)
    else:
        bitmaps = []
        for q in range(n_queries):
            bm = base[0 if len(base) == 1 else q].copy()
            if ex is not None:
                _set_bits(bm, lookup(ex[1][0 if not ex[0] else q]), False)
            bitmaps.append(bm)
    counts = np.array([int(np.bitwise_count(bm).sum()) for bm in bitmaps], dtype=np.int64)
    return FilterPlan(bitmaps=bitmaps, counts=counts, shared=shared)
