"""Top-K accuracy metrics on ranked id lists, vectorised over users.

Definitions follow RecBole (so numbers are comparable with it):

- Recall@K    = hits in the top K / number of the user's relevant items
- Precision@K = hits in the top K / K (K, not the list length: a short list is penalised)
- Hit@K       = 1 if any relevant item is in the top K
- MRR@K       = 1 / rank of the first hit (0 if none in the top K)
- NDCG@K      = DCG@K / IDCG, binary gains, IDCG over min(K, number of relevant items)
- MAP@K       = sum over hit positions i <= K of precision@i / min(K, number of relevant items)

Every function returns one value per user; users with no relevant items are dropped by
:func:`relevance` before scoring, as RecBole does.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

from recstrata.errors import ConfigError

ACCURACY_METRICS = ("recall", "precision", "ndcg", "mrr", "hit", "map")


def relevance(ranked: np.ndarray, truth: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Hit matrix (n, L) bool: ranked[u, j] is relevant for user row u; and relevant counts (n,).

    ``ranked`` holds item indices, -1 for padding; ``truth`` is an (n, n_items) CSR matrix whose
    row u holds user u's relevant items (values ignored).
    """
    ranked = np.asarray(ranked)
    if ranked.ndim != 2 or ranked.shape[0] != truth.shape[0]:
        raise ConfigError(f"ranked must be (n_users, K) with n_users = {truth.shape[0]}, got {ranked.shape}")
    truth = truth.tocsr()
    truth.sort_indices()
    n_items = np.int64(truth.shape[1])
    rows = np.repeat(np.arange(truth.shape[0], dtype=np.int64), np.diff(truth.indptr))
    keys = rows * n_items + truth.indices.astype(np.int64)  # sorted: row-major, sorted indices
    query = np.arange(ranked.shape[0], dtype=np.int64)[:, None] * n_items + ranked.astype(np.int64)
    pos = np.searchsorted(keys, query)
    pos = np.minimum(pos, max(len(keys) - 1, 0))
    hits = (keys[pos] == query) & (ranked >= 0) if len(keys) else np.zeros(ranked.shape, bool)
    return hits, np.diff(truth.indptr).astype(np.int64)


def _cut(hits: np.ndarray, k: int) -> np.ndarray:
    if k <= 0:
        raise ConfigError(f"K must be positive, got {k}")
    out = hits[:, :k]
    if out.shape[1] < k:  # list shorter than K (K larger than the catalog): pad with misses
        out = np.pad(out, ((0, 0), (0, k - out.shape[1])))
    return out


def recall(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return _cut(hits, k).sum(1) / n_rel


def precision(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return _cut(hits, k).sum(1) / k


def hit(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return _cut(hits, k).any(1).astype(np.float64)


def mrr(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    h = _cut(hits, k)
    first = h.argmax(1)
    return np.where(h.any(1), 1.0 / (first + 1), 0.0)


def ndcg(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    h = _cut(hits, k)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (h * discount).sum(1)
    ideal = np.cumsum(discount)[np.minimum(n_rel, k) - 1]
    return dcg / ideal


def map_(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    h = _cut(hits, k).astype(np.float64)
    prec = np.cumsum(h, 1) / np.arange(1, k + 1)
    return (prec * h).sum(1) / np.minimum(n_rel, k)


_FUNCS = {"recall": recall, "precision": precision, "ndcg": ndcg, "mrr": mrr, "hit": hit, "map": map_}


def accuracy(
    ranked: np.ndarray, truth: sp.csr_matrix, ks: Iterable[int] = (10,), metrics: Iterable[str] = ACCURACY_METRICS
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-user values of each ``metric@k`` and the mask of users that were scored (>= 1 relevant item)."""
    metrics = list(metrics)
    unknown = set(metrics) - set(_FUNCS)
    if unknown:
        raise ConfigError(f"unknown metric(s) {sorted(unknown)}; choose from {list(_FUNCS)}")
    hits, n_rel = relevance(ranked, truth)
    scored = n_rel > 0
    hits, n_rel = hits[scored], n_rel[scored]
    out = {f"{m}@{k}": _FUNCS[m](hits, n_rel, k) for k in ks for m in metrics}
    return out, scored
