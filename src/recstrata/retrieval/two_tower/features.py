"""Item-side inputs of the two-tower model, built from a ``Dataset`` plus optional extras (numpy only).

Every categorical signal becomes a block of a sparse multi-hot matrix whose rows are normalised
to sum 1 inside each block (so an item with 3 genres is not "louder" than one with 1): the catalog's
genres, a year bucket, and any ``item_features`` given at fit time (LLM-extracted tags, ...).
Text enters as a dense matrix of sentence embeddings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recstrata.data.dataset import Dataset
from recstrata.errors import DataError


def row_normalise(matrix: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(matrix, dtype=np.float32)
    sums = np.asarray(abs(m).sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(1.0 / np.where(sums > 0, sums, 1.0)).astype(np.float32) @ m)


def year_buckets(years: Sequence[object], n_buckets: int = 8) -> sp.csr_matrix:
    """One-hot year buckets with equal-frequency edges; an unknown year gets an all-zero row."""
    values = pd.to_numeric(pd.Series(list(years), dtype=object), errors="coerce").to_numpy(dtype=float)
    known = ~np.isnan(values)
    n = len(values)
    if not known.any():
        return sp.csr_matrix((n, 0), dtype=np.float32)
    edges = np.unique(np.quantile(values[known], np.linspace(0, 1, n_buckets + 1)[1:-1]))
    bucket = np.searchsorted(edges, values[known], side="right")
    rows = np.flatnonzero(known)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, bucket)), shape=(n, len(edges) + 1))


def tags_to_matrix(tags: Sequence[Iterable[str]]) -> tuple[sp.csr_matrix, list[str]]:
    """Per-item tag lists (e.g. from the enrichment store) -> (n_items, n_tags) binary matrix, vocabulary."""
    vocab = sorted({t for ts in tags for t in ts})
    col = {t: j for j, t in enumerate(vocab)}
    rows = [i for i, ts in enumerate(tags) for _ in set(ts)]
    cols = [col[t] for ts in tags for t in set(ts)]
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(tags), len(vocab)))
    return m, vocab


def categorical_features(
    dataset: Dataset,
    *,
    genres: bool = True,
    year: bool = True,
    extra: Mapping[str, sp.spmatrix | np.ndarray] | None = None,
) -> sp.csr_matrix:
    """``(n_items, n_columns)`` concatenation of the row-normalised categorical blocks."""
    blocks = []
    if genres:
        blocks.append(row_normalise(dataset.genre_matrix[0]))
    if year and "year" in dataset.items:
        blocks.append(year_buckets(dataset.items["year"].tolist()))
    for name, matrix in (extra or {}).items():
        m = sp.csr_matrix(matrix, dtype=np.float32)
        if m.shape[0] != dataset.n_items:
            raise DataError(
                f"item_features[{name!r}] has {m.shape[0]} rows; the dataset has {dataset.n_items} items")
        blocks.append(row_normalise(m))
    blocks = [b for b in blocks if b.shape[1]]
    if not blocks:
        return sp.csr_matrix((dataset.n_items, 0), dtype=np.float32)
    return sp.hstack(blocks, format="csr", dtype=np.float32)


def hard_negative_matrix(
    hard_negatives: Mapping[int, Sequence[int] | np.ndarray] | np.ndarray | None, n_users: int, n_items: int
) -> sp.csr_matrix | None:
    """``{user: items}`` or an ``(m, 2)`` array of (user, item) pairs -> binary (n_users, n_items) CSR."""
    if hard_negatives is None:
        return None
    if isinstance(hard_negatives, Mapping):
        pairs = [(int(u), int(i)) for u, items in hard_negatives.items() for i in np.asarray(items).ravel()]
        arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    else:
        arr = np.asarray(hard_negatives, dtype=np.int64)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise DataError(
                f"hard_negatives must be {{user: items}} or an (m, 2) array of pairs, got shape {arr.shape}")
    if arr.size and (arr[:, 0].min() < 0 or arr[:, 0].max() >= n_users or arr[:, 1].min() < 0
                     or arr[:, 1].max() >= n_items):
        raise DataError(
            f"hard_negatives hold indices outside 0..{n_users - 1} (users) / 0..{n_items - 1} (items)")
    m = sp.csr_matrix((np.ones(len(arr), np.float32), (arr[:, 0], arr[:, 1])), shape=(n_users, n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m
