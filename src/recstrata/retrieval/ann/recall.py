"""Recall of an approximate index against exact search: measured, not assumed."""

from __future__ import annotations

from typing import Any

import numpy as np

from recstrata.retrieval.ann.base import VectorIndex


def recall_of(approx_ids: np.ndarray, exact_ids: np.ndarray) -> np.ndarray:
    """Per-query |approx ∩ exact| / |exact| over valid (>= 0) ids. Both (n, k) -> (n,)."""
    out = np.empty(exact_ids.shape[0], dtype=np.float64)
    for i, (a, e) in enumerate(zip(approx_ids, exact_ids, strict=True)):
        e = e[e >= 0]
        out[i] = np.intersect1d(a[a >= 0], e).size / e.size if e.size else 1.0
    return out


def measure_recall(
    index: VectorIndex, exact_index: VectorIndex, queries: Any, k: int, **search_kwargs: Any
) -> float:
    """Mean recall@k of ``index`` against ``exact_index`` (an ``exact`` index over the same vectors).

    ``search_kwargs`` (``exclude`` / ``allow``) are passed to both searches, so filtered recall can
    be measured too.
    """
    approx, _ = index.search(queries, k, **search_kwargs)
    exact, _ = exact_index.search(queries, k, **search_kwargs)
    return float(recall_of(approx, exact).mean())
