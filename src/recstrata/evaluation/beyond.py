"""Beyond-accuracy metrics of top-K lists: coverage, exposure Gini, novelty, intra-list diversity,
genre calibration (Steck, "Calibrated Recommendations", RecSys 2018)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _valid(ranked: np.ndarray, k: int) -> np.ndarray:
    return np.asarray(ranked)[:, :k]


def coverage(ranked: np.ndarray, n_items: int, k: int) -> float:
    """Share of the catalog that appears in at least one top-K list."""
    r = _valid(ranked, k)
    return float(np.unique(r[r >= 0]).size / n_items)


def exposure_gini(ranked: np.ndarray, n_items: int, k: int) -> float:
    """Gini coefficient of how often each catalog item is shown (0 = equal exposure, ->1 = a few items)."""
    r = _valid(ranked, k)
    counts = np.sort(np.bincount(r[r >= 0], minlength=n_items).astype(np.float64))
    total = counts.sum()
    if total == 0:
        return 0.0
    i = np.arange(1, n_items + 1)
    return float(((2 * i - n_items - 1) * counts).sum() / (n_items * total))


def novelty(ranked: np.ndarray, item_popularity: np.ndarray, n_users: int, k: int) -> np.ndarray:
    """Per-user mean self-information -log2(p(i)) of listed items, p(i) = share of users who had item i.

    Items never seen in training count as seen once (so cold items are the most novel, not infinite).
    """
    r = _valid(ranked, k)
    p = np.maximum(item_popularity, 1.0) / max(n_users, 1)
    info = -np.log2(p)
    vals = np.where(r >= 0, info[np.maximum(r, 0)], np.nan)
    with np.errstate(invalid="ignore"):
        return np.nanmean(vals, axis=1) if vals.size else np.zeros(len(r))


def intra_list_diversity(ranked: np.ndarray, item_features: sp.csr_matrix, k: int) -> np.ndarray:
    """Per-user mean pairwise cosine distance between listed items' feature (genre) vectors.

    Pairs where either item has no features are ignored; a list with no such pair gives NaN.
    """
    r = _valid(ranked, k)
    feats = sp.csr_matrix(item_features, dtype=np.float64)
    norms = np.sqrt(np.asarray(feats.multiply(feats).sum(1)).ravel())
    unit = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ feats
    dense = unit.toarray()  # (n_items, n_features): genre vocabularies are small
    x = np.where((r >= 0)[..., None], dense[np.maximum(r, 0)], 0.0)  # (n, k, f)
    has = (np.linalg.norm(x, axis=2) > 0).astype(np.float64)  # (n, k)
    sim = np.einsum("nif,njf->nij", x, x)
    pair = has[:, :, None] * has[:, None, :]
    kk = r.shape[1]
    off = 1.0 - np.eye(kk)
    n_pairs = (pair * off).sum((1, 2))
    dist = ((1.0 - sim) * pair * off).sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_pairs > 0, dist / n_pairs, np.nan)


def genre_distribution(rows: sp.csr_matrix, item_genres: sp.csr_matrix) -> np.ndarray:
    """p(g|u): the mean over each user's items of the item's genre distribution (genres share 1)."""
    g = sp.csr_matrix(item_genres, dtype=np.float64)
    per_item = np.asarray(g.sum(1)).ravel()
    g = sp.diags(np.divide(1.0, per_item, out=np.zeros_like(per_item), where=per_item > 0)) @ g
    mass = rows.astype(np.float64) @ g
    mass = np.asarray(mass.todense()) if sp.issparse(mass) else mass
    total = mass.sum(1, keepdims=True)
    return np.divide(mass, total, out=np.zeros_like(mass), where=total > 0)


def calibration_kl(
    ranked: np.ndarray, history: sp.csr_matrix, item_genres: sp.csr_matrix, k: int, alpha: float = 0.01
) -> np.ndarray:
    """Per-user KL(p || q~) between the history's genre distribution p and the list's q,
    with q~ = (1 - alpha) q + alpha p so the divergence stays finite (Steck 2018). 0 = calibrated."""
    r = _valid(ranked, k)
    n, n_items = r.shape[0], item_genres.shape[0]
    rows = np.repeat(np.arange(n), r.shape[1])
    cols = r.ravel()
    keep = cols >= 0
    lists = sp.csr_matrix((np.ones(keep.sum()), (rows[keep], cols[keep])), shape=(n, n_items))
    p = genre_distribution(history, item_genres)
    q = (1 - alpha) * genre_distribution(lists, item_genres) + alpha * p
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / q), 0.0)
    kl = terms.sum(1)
    return np.where(p.sum(1) > 0, kl, np.nan)
