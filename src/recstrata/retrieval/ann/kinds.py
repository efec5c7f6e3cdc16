"""The index kinds behind :func:`make_index`, each a thin choice of faiss index and search knobs.

| kind    | faiss index                       | exact scores | memory / vector (d=64) |
|---------|-----------------------------------|--------------|------------------------|
| exact   | IndexFlatIP                       | yes          | 256 B                  |
| hnsw    | IndexHNSWFlat (inner product)     | yes          | 256 B + graph (~2*M*4 B) |
| ivf     | IndexIVFFlat                      | yes          | 256 B (+ vectors.npy)  |
| ivfpq   | IndexIVFPQ + exact re-rank        | after re-rank| pq_m B = d/2 (+ vectors.npy) |
| sq8     | IndexScalarQuantizer 8 bit + re-rank | after re-rank | 64 B (+ vectors.npy) |
| fp16    | IndexScalarQuantizer fp16 + re-rank  | after re-rank | 128 B (+ vectors.npy) |
| pq4fs   | IndexPQFastScan 4 bit + re-rank   | after re-rank| d/2 B (+ vectors.npy)  |
| ivfpq4fs| IVF + 4-bit PQ fast scan + re-rank   | after re-rank | d/2 B (+ vectors.npy) |

The fast-scan kinds (André et al., "Quicker ADC", 2019; faiss ``PQ{m}x4fs``) keep 4-bit codes whose
distance tables fit in SIMD registers, so a scan is compute-cheap *and* reads 8x fewer bytes than
float32; with one code per dimension the re-ranked shortlist catches nearly all of the true top-k
even on random vectors (bench/ann_speed.py). ``pq4fs`` is the flat scan; as faiss's flat
fast-scan index takes no selector, its filtered searches over-fetch and drop disallowed rows.

``vectors.npy`` (the float32 originals) is memory-mapped on load; the re-ranked shortlist and exact
filtered searches read it (a filtered search whose allowed set is within ``filter_exact_below`` reads
all of it when an eighth or more of the catalog is allowed, i.e. on catalogs up to 8x that
threshold). HNSW and flat keep originals inside faiss and need no copy.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

from recstrata.errors import ConfigError
from recstrata.retrieval.ann import _validate as V
from recstrata.retrieval.ann.base import VectorIndex, faiss_module

_TRAIN_POINTS_PER_LIST = 64  # k-means sample size per IVF list; faiss itself caps at 256
_SQ_TRAIN_SAMPLE = 100_000  # the per-dimension min/max of sq8 is stable well before this
_FASTSCAN_MIN_EXTRA = 1000  # fast-scan shortlists hold at least k + this many candidates (~0.1 ms to re-rank)
_FASTSCAN_MIN_TRAIN = 16 * 39  # 16 centroids per 4-bit sub-quantizer, faiss's 39 points each


def _sample(vectors: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    if vectors.shape[0] <= size:
        return vectors
    rows = np.sort(np.random.default_rng(seed).choice(vectors.shape[0], size, replace=False))
    return vectors[rows]


def auto_nlist(n: int, scale: float = 2.0) -> int:
    """~scale*sqrt(n) lists, and at least 39 training points per list (faiss's k-means minimum)."""
    return max(1, min(int(round(scale * math.sqrt(n))), n // 39))


class ExactIndex(VectorIndex):
    """Brute-force inner product (IndexFlatIP): the reference every other kind is measured against."""

    kind = "exact"
    keeps_vectors = False

    def _new_faiss_index(self, faiss: Any, n: int, dim: int) -> Any:
        return faiss.IndexFlatIP(dim)

    def _flat_storage(self, shard: Any) -> Any:
        return shard


class HNSWIndex(VectorIndex):
    """Graph search, Malkov & Yashunin 2018 (arXiv:1603.09320). ``ef_search`` is raised to k when smaller."""

    kind = "hnsw"
    keeps_vectors = False
    sublinear = True  # graph links built by inner product already lead to long vectors: no augmentation

    def __init__(
        self,
        *,
        M: int = 32,
        ef_construction: int = 40,
        ef_search: int = 128,
        shards: int = 1,
        threads: int | None = None,
        filter_exact_below: int = 10_000,
    ) -> None:
        super().__init__(shards=shards, threads=threads, filter_exact_below=filter_exact_below)
        self.M, self.ef_construction, self.ef_search = M, ef_construction, ef_search

    def check_params(self) -> None:
        super().check_params()
        V.positive_int(self.M, "M", minimum=2)
        V.positive_int(self.ef_construction, "ef_construction")
        V.positive_int(self.ef_search, "ef_search")

    def _new_faiss_index(self, faiss: Any, n: int, dim: int) -> Any:
        index = faiss.IndexHNSWFlat(dim, self.M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        return index

    def _search_params(self, faiss: Any, k: int, selector: Any) -> Any:
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, k)
        params.sel = selector
        return params

    def _flat_storage(self, shard: Any) -> Any:
        return faiss_module().downcast_index(shard.storage)


class _IVFBase(VectorIndex):
    sublinear = True
    needs_equal_norm = True
    def __init__(
        self,
        *,
        nlist: int | None = None,
        nprobe: int = 64,
        shards: int = 1,
        threads: int | None = None,
        filter_exact_below: int = 10_000,
    ) -> None:
        super().__init__(shards=shards, threads=threads, filter_exact_below=filter_exact_below)
        self.nlist, self.nprobe = nlist, nprobe

    def _nlist(self, n: int) -> int:
        return auto_nlist(n) if self.nlist is None else self.nlist

    def check_params(self) -> None:
        super().check_params()
        if self.nlist is not None:
            V.positive_int(self.nlist, "nlist")
        V.positive_int(self.nprobe, "nprobe")

    def _check_params(self, n: int, dim: int) -> None:
        super()._check_params(n, dim)
        if self.nlist is not None:
            if self.nlist > n:
                raise ConfigError(
                    f"nlist={self.nlist} is more than the {n} vectors to index; use nlist <= {n} "
                    "(or nlist=None for about 2*sqrt(n))."
                )

    def _train(self, index: Any, vectors: np.ndarray) -> None:
        index.train(_sample(vectors, self._nlist(vectors.shape[0]) * _TRAIN_POINTS_PER_LIST))

    def _search_params(self, faiss: Any, k: int, selector: Any) -> Any:
        params = faiss.SearchParametersIVF()
        # nprobe > nlist must mean "every list": faiss's fast-scan IVF returns garbage otherwise
        params.nprobe = min(self.nprobe, int(self.shards_[0].nlist))
        params.sel = selector
        return params


class IVFIndex(_IVFBase):
    """Inverted lists of full vectors (IVFFlat): k-means partitions, ``nprobe`` of them scanned."""

    kind = "ivf"

    def _new_faiss_index(self, faiss: Any, n: int, dim: int) -> Any:
        quantizer = faiss.IndexFlatIP(dim)
        return faiss.IndexIVFFlat(quantizer, dim, self._nlist(n), faiss.METRIC_INNER_PRODUCT)


class IVFPQIndex(_IVFBase):
    """IVF with product-quantised codes (Jégou et al. 2011); a shortlist of
    ``ceil(k * refine_factor)`` is re-scored exactly from the float32 originals."""

    kind = "ivfpq"

    def __init__(
        self,
        *,
        nlist: int | None = None,
        nprobe: int = 64,
        pq_m: int | None = None,
        pq_nbits: int = 8,
        refine_factor: float = 4.0,
        shards: int = 1,
        threads: int | None = None,
        filter_exact_below: int = 10_000,
    ) -> None:
        super().__init__(nlist=nlist, nprobe=nprobe, shards=shards, threads=threads,
                         filter_exact_below=filter_exact_below)
        self.pq_m, self.pq_nbits, self.refine_factor = pq_m, pq_nbits, refine_factor

    def _pq_m(self, dim: int) -> int:
        # 2 dims per one-byte code: at 4 dims per code the shortlist of a top-1000 misses too much
        return self.pq_m if self.pq_m is not None else max(1, dim // 2)

    def check_params(self) -> None:
        super().check_params()
        if self.pq_m is not None:
            V.positive_int(self.pq_m, "pq_m")
        V.positive_int(self.pq_nbits, "pq_nbits")
        _check_refine(self.refine_factor)

    def _check_params(self, n: int, dim: int) -> None:
        super()._check_params(n, dim)
        m = self._pq_m(dim)
        if dim % m:
            raise ConfigError(
                f"pq_m={m} must divide dim={dim}; pick a divisor of {dim} (e.g. {dim // 2 or 1})."
            )
        if n < 2**self.pq_nbits:
            raise ConfigError(
                f"ivfpq with pq_nbits={self.pq_nbits} needs at least {2**self.pq_nbits} vectors to train its "
                f"codebooks, got {n}; lower pq_nbits or use kind='exact' for a catalogue this small."
            )

    def _new_faiss_index(self, faiss: Any, n: int, dim: int) -> Any:
        quantizer = faiss.IndexFlatIP(dim)
        return faiss.IndexIVFPQ(
            quantizer, dim, self._nlist(n), self._pq_m(dim), self.pq_nbits, faiss.METRIC_INNER_PRODUCT
        )

    def _shortlist(self, k: int) -> int:
        return math.ceil(k * self.refine_factor)

    def _refines(self) -> bool:
        return True


class ScalarQuantizedIndex(VectorIndex):
    """Flat scan of compressed vectors (IndexScalarQuantizer), then an exact re-rank of a shortlist.

    The scan reads 4x (sq8) or 2x (fp16) fewer bytes than float32 brute force; the re-rank of
    ``ceil(k * refine_factor)`` candidates restores exact scores and order.
    """

    kind = "sq8"
    _qtype = "QT_8bit"

    def __init__(
        self,
        *,
        refine_factor: float = 1.5,
        shards: int = 2,
        threads: int | None = None,
        filter_exact_below: int = 10_000,
    ) -> None:
        super().__init__(shards=shards, threads=threads, filter_exact_below=filter_exact_below)
        self.refine_factor = refine_factor

    def check_params(self) -> None:
        super().check_params()
        _check_refine(self.refine_factor)

    def _new_faiss_index(self, faiss: Any, n: int, dim: int) -> Any:
        qtype = getattr(faiss.ScalarQuantizer, self._qtype)
        return faiss.IndexScalarQuantizer(dim, qtype, faiss.METRIC_INNER_PRODUCT)

    def _train(self, index: Any, vectors: np.ndarray) -> None:
        index.train(_sample(vectors, _SQ_TRAIN_SAMPLE))

    def _shortlist(self, k: int) -> int:
        return math.ceil(k * self.refine_factor)

    def _refines(self) -> bool:
        return True


class FP16Index(ScalarQuantizedIndex):
    __doc__ = ScalarQuantizedIndex.__doc__
    kind = "fp16"
    _qtype = "QT_fp16"

    def __init__(
        self,
        *,
        refine_factor: float = 1.2,
        shards: int = 2,
        threads: int | None = None,
        filter_exact_below: int = 10_000,
    ) -> None:
        super().__init__(refine_factor=refine_factor, shards=shards, threads=threads,
                         filter_exact_below=filter_exact_below)


class _FastScanCodes:
    """What the 4-bit fast-scan kinds share: code size, checks, a shortlist re-ranked exactly."""

    pq_m: int | None
    refine_factor: float
    kind: str

    def _pq_m(self, dim: int) -> int:
        return self.pq_m if self.pq_m is not None else dim

    def check_params(self) -> None:
        super().check_params()
        if self.pq_m is not None:
            V.positive_int(self.pq_m, "pq_m")
        _check_refine(self.refine_factor)

    def _check_codes(self, n: int, dim: int) -> None:
        m = self._pq_m(dim)
        if dim % m:
            raise ConfigError(f"pq_m={m} must divide dim={dim}; pick a divisor of {dim} (e.g. {dim}).")
        if n < _FASTSCAN_MIN_TRAIN:
            raise ConfigError(
                f"{self.kind} needs at least {_FASTSCAN_MIN_TRAIN} vectors to train its 4-bit codebooks, "
                f"got {n}; use kind='exact' for a catalogue this small."
            )

    def _shortlist(self, k: int) -> int:
        # 4-bit codes rank coarsely: a small k still gets a shortlist worth re-ranking
        return max(math.ceil(k * self.refine_factor), k + _FASTSCAN_MIN_EXTRA)

    def _refines(self) -> bool:
        return True


class IVFPQFastScanIndex(_FastScanCodes, _IVFBase):
    """IVF whose lists hold 4-bit PQ codes scanned with SIMD lookup tables, then an exact re-rank
    of ``ceil(k * refine_factor)`` candidates from the float32 originals.

    Defaults: ``pq_m = dim`` (one 4-bit code per dimension: d/2 bytes a vector), ``nlist`` about
    sqrt(n) — fewer, larger lists than ``ivf`` because a top-1000 spreads over many partitions —
    and ``nprobe`` 64. One shard: an IVF probe is too short to gain from a thread hop.
    """

    kind = "ivfpq4fs"

    def __init__(
        self,
        *,
        nlist: int | None = None,
        nprobe: int = 64,
        pq_m: int | None = None,
        refine_factor: float = 2.0,
        shards: int = 1,
        threads: int | None = None,
        filter_exact_below: int = 10_000,
    ) -> None:
        super().__init__(nlist=nlist, nprobe=nprobe, shards=shards, threads=threads,
                         filter_exact_below=filter_exact_below)
        self.pq_m, self.refine_factor = pq_m, refine_factor

    def _nlist(self, n: int) -> int:
        return auto_nlist(n, scale=1.0) if self.nlist is None else self.nlist

    def _check_params(self, n: int, dim: int) -> None:
        super()._check_params(n, dim)
        self._check_codes(n, dim)

    def _new_faiss_index(self, faiss: Any, n: int, dim: int) -> Any:
        quantizer = faiss.IndexFlatIP(dim)
        return faiss.IndexIVFPQFastScan(
            quantizer, dim, self._nlist(n), self._pq_m(dim), 4, faiss.METRIC_INNER_PRODUCT
        )

    def _train(self, index: Any, vectors: np.ndarray) -> None:
        size = max(self._nlist(vectors.shape[0]) * _TRAIN_POINTS_PER_LIST, _SQ_TRAIN_SAMPLE)
        index.train(_sample(vectors, size))


class PQFastScanIndex(_FastScanCodes, VectorIndex):
    """Flat scan of 4-bit PQ codes (every vector scored by SIMD table lookups), then an exact
    re-rank of ``ceil(k * refine_factor)`` candidates. Needs no structure in the data, so it is the
    kind for vectors an IVF cannot partition well; two shards are searched in parallel.

    faiss's flat fast-scan index takes no selector: filtered searches over-fetch and drop the
    disallowed rows (see ``VectorIndex.selector_filters``). The fetch grows as 1 / (allowed share):
    allowed sets up to ``filter_exact_below`` rows are searched exactly instead, but a large top-k
    under a selective filter over millions of items is better served by ``ivfpq4fs`` (selectors
    inside the scan).
    """

    kind = "pq4fs"
    selector_filters = False
    _IMPLEM = 13  # faiss's fast-scan result handler measured fastest for one query and a long shortlist

    def __init__(
        self,
        *,
        pq_m: int | None = None,
        refine_factor: float = 3.0,
        shards: int = 2,
        threads: int | None = None,
        filter_exact_below: int = 10_000,
    ) -> None:
        super().__init__(shards=shards, threads=threads, filter_exact_below=filter_exact_below)
        self.pq_m, self.refine_factor = pq_m, refine_factor

    def _check_params(self, n: int, dim: int) -> None:
        super()._check_params(n, dim)
        self._check_codes(n, dim)

    def _new_faiss_index(self, faiss: Any, n: int, dim: int) -> Any:
        return faiss.IndexPQFastScan(dim, self._pq_m(dim), 4, faiss.METRIC_INNER_PRODUCT)

    def _train(self, index: Any, vectors: np.ndarray) -> None:
        index.train(_sample(vectors, _SQ_TRAIN_SAMPLE))

    def _set_state(self, shards: list, bounds: np.ndarray, ids: np.ndarray, vectors: Any, dim: int) -> None:
        for shard in shards:  # a search-time choice, not stored by faiss.write_index
            shard.implem = self._IMPLEM
        super()._set_state(shards, bounds, ids, vectors, dim)


def _check_refine(refine_factor: Any) -> None:
    if isinstance(refine_factor, bool) or not isinstance(refine_factor, (int, float)) or refine_factor < 1:
        raise ConfigError(
            f"refine_factor={refine_factor!r} must be a number >= 1 (shortlist = ceil(k * refine_factor) "
            "candidates re-scored exactly)."
        )


INDEX_KINDS: dict[str, type[VectorIndex]] = {
    cls.kind: cls
    for cls in (ExactIndex, HNSWIndex, IVFIndex, IVFPQIndex, ScalarQuantizedIndex, FP16Index,
                IVFPQFastScanIndex, PQFastScanIndex)
}


def parse_index_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"ivf:nprobe=128,shards=2"`` -> ``("ivf", {"nprobe": 128, "shards": 2})`` (ints, floats, None)."""
    kind, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"bad index spec {spec!r}: write kind:param=value,param=value (e.g. ivf:nprobe=128)")
        try:
            params[key] = None if raw == "None" else int(raw) if raw.lstrip("-").isdigit() else float(raw)
        except ValueError:
            raise ConfigError(f"bad value {raw!r} for {key!r} in index spec {spec!r}: a number or None") from None
    return kind, params


def make_index(kind: str, **params: Any) -> VectorIndex:
    """Create an empty index of ``kind`` (one of :data:`INDEX_KINDS`, or a spec such as
    ``"ivf:nprobe=128"``) with its parameters."""
    if ":" in kind:
        kind, spec_params = parse_index_spec(kind)
        params = {**spec_params, **params}
    try:
        cls = INDEX_KINDS[kind]
    except KeyError:
        raise ConfigError(f"unknown index kind {kind!r}; choose one of {sorted(INDEX_KINDS)}.") from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(
            f"bad parameters for index kind {kind!r}: {exc}. Allowed: {_param_names(cls)}."
        ) from exc


def _param_names(cls: type[VectorIndex]) -> list[str]:
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
