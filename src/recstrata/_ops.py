"""Small numeric kernels shared by models and evaluation: masked top-K over score rows."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def topk_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` column indices per row, best first; ties go to the lower index.

    Entries equal to -inf are never returned: rows with fewer finite scores are padded with
    index -1 and score -inf. ``k`` may exceed the number of columns (the list is padded).
    """
    n, m = scores.shape
    kk = min(k, m)
    if kk < m:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        # argpartition breaks ties arbitrarily at the boundary: widen to every column tied with
        # the k-th score so the lower-index rule is exact
        kth = np.take_along_axis(scores, part, 1).min(1, keepdims=True)
        if np.any((scores == kth).sum(1) > (np.take_along_axis(scores, part, 1) == kth).sum(1)):
            cand = np.argsort(-scores, axis=1, kind="stable")[:, :kk]
            part = cand
    else:
        part = np.tile(np.arange(m), (n, 1))
    vals = np.take_along_axis(scores, part, 1)
    order = np.lexsort((part, -vals), axis=1) if n else np.zeros((0, kk), int)
    ids = np.take_along_axis(part, order, 1).astype(np.int64)
    top = np.take_along_axis(vals, order, 1).astype(np.float32)
    ids[~np.isfinite(top) & (top < 0)] = -1
    if kk < k:
        ids = np.pad(ids, ((0, 0), (0, k - kk)), constant_values=-1)
        top = np.pad(top, ((0, 0), (0, k - kk)), constant_values=-np.inf)
    return ids, top


def mask_csr(scores: np.ndarray, rows: sp.csr_matrix, value: float = -np.inf) -> None:
    """Set ``scores[u, j] = value`` for every stored entry (u, j) of ``rows`` (in place)."""
    rows = rows.tocsr()
    r = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    scores[r, rows.indices] = value


def restrict_to(scores: np.ndarray, candidates: np.ndarray) -> None:
    """Set every column not in ``candidates`` to -inf (in place)."""
    keep = np.zeros(scores.shape[1], bool)
    keep[np.asarray(candidates, dtype=np.int64)] = True
    scores[:, ~keep] = -np.inf
