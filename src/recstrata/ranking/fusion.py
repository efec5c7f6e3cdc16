"""Weighted reciprocal rank fusion, and choosing its weights on labelled data with an honest estimate.

Rank fusion (Cormack et al., SIGIR 2009) orders merged candidates by ``sum_s w_s / (k + rank_s)``.
:func:`tune_fusion` grid-searches the per-source weights (a weight of 0 drops the source) and ``k``
on labels from a later period than the fitted data (e.g. validation), maximising NDCG@10 as
:func:`recstrata.evaluation.evaluate` defines it. The best setting's NDCG on the very users that
chose it is optimistic — the maximum of many noisy figures — so with ``folds=K`` the users are also
split into K folds and each fold is scored with the setting chosen on the *other* folds: the
out-of-fold NDCG@10 (``cv_ndcg``) is the figure to compare with untuned candidates.

    choice = tune_fusion(cands, truth_rows, weights=(0.0, 0.5, 1.0), ks=(10, 30, 60), folds=5)
    choice.weights, choice.k, choice.ndcg, choice.cv_ndcg
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from recstrata._ops import topk_rows
from recstrata.errors import ConfigError, DataError
from recstrata.evaluation.metrics import ndcg, relevance
from recstrata.ranking.candidates import Candidates
from recstrata.retrieval._params import is_int, is_number

#: largest grid :func:`fusion_settings` builds (3 weights over 8 sources x 3 k, 18,915 settings once
#: rescaled duplicates are dropped, took 180 s on 943 users: bench/results/ranker_round3.json; the
#: cost grows with users x settings)
MAX_SETTINGS = 20_000
#: the default grid: per-source weights (0 drops a source) and fusion k
FUSION_WEIGHTS = (0.0, 0.5, 1.0)
FUSION_KS = (10.0, 30.0, 60.0)


def check_folds(folds) -> None:
    if folds is not None and (not is_int(folds) or folds < 2):
        raise ConfigError(f"folds must be an integer >= 2 (or None for no out-of-fold estimate), got {folds!r}")


def rank_contributions(ranks: np.ndarray, k: float) -> np.ndarray:
    """(S, n, C) 1-based ranks (NaN = not proposed) -> (S, n, C) float32 ``1 / (k + rank)``, 0 if not proposed."""
    return np.where(np.isnan(ranks), 0.0, 1.0 / (k + np.nan_to_num(ranks))).astype(np.float32)


def rrf_scores(ranks: np.ndarray, weights: Sequence[float], k: float) -> np.ndarray:
    """(S, n, C) 1-based ranks (NaN = not proposed), (S,) weights -> (n, C) fused float32 scores."""
    return np.tensordot(np.asarray(weights, np.float32), rank_contributions(ranks, k), axes=1).astype(np.float32)


@dataclass(frozen=True)
class FusionChoice:
    """The chosen fusion setting and how it was chosen."""

    weights: dict[str, float]
    k: float
    ndcg: float  # NDCG@10 of the chosen setting on every labelled user (in-sample: optimistic)
    cv_ndcg: float | None  # out-of-fold NDCG@10 (each fold scored with the setting the others chose)
    n_users: int
    n_settings: int
    fold_choices: list[tuple[dict[str, float], float]] = field(default_factory=list)
    #: the rows (of ``cands`` / ``truth``) with a relevant item, and each one's out-of-fold NDCG@10
    #: (empty without folds): for paired comparisons with other blends on the same users
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    oof_ndcg: np.ndarray = field(default_factory=lambda: np.zeros(0))


def fusion_settings(sources: Sequence[str], weights: Sequence[float], ks: Sequence[float]) -> list[tuple[tuple[float, ...], float]]:
    """Every (per-source weights, k) on the grid, except all-zero weights and duplicates up to scale
    (weights (1, 1) and (0.5, 0.5) rank identically at the same k: the first one listed is kept)."""
    if not sources or not weights or not ks:
        raise ConfigError("fusion grid needs at least one source, one weight and one k")
    if not all(is_number(x) and x >= 0 for x in (*weights, *ks)) or max(weights) <= 0:
        raise ConfigError(f"fusion weights and k must be numbers >= 0 with at least one weight > 0, "
                          f"got weights={list(weights)} and ks={list(ks)}")
    size = len(ks) * len(set(weights)) ** len(sources)
    if size > MAX_SETTINGS:
        raise ConfigError(f"the fusion grid has {size:,} settings ({len(set(weights))} weights ^ {len(sources)} "
                          f"sources x {len(ks)} k), above {MAX_SETTINGS:,}: use fewer weights or sources "
                          "(each setting ranks every labelled user once)")
    out, seen = [], set()
    for k in ks:
        for combo in itertools.product(sorted(set(weights)), repeat=len(sources)):
            top = max(combo)
            if top == 0:
                continue
            key = (tuple(round(w / top, 9) for w in combo), k)
            if key not in seen:
                seen.add(key)
                out.append((tuple(float(w) for w in combo), float(k)))
    return out


def per_user_ndcg(cands: Candidates, truth: sp.csr_matrix,
                  settings: Sequence[tuple[tuple[float, ...], float]]) -> np.ndarray:
    """(n_settings, n) NDCG@10 of each setting for each row of ``truth`` (rows = candidate rows;
    the ideal DCG counts every relevant item of the row, proposed or not)."""
    hits_all, n_rel = relevance(np.where(cands.valid, cands.items, -1), truth)  # (n, C)
    n, c = cands.shape
    out = np.empty((len(settings), n), np.float64)
    rows = np.arange(n)[:, None]
    contrib = {}  # k -> (S, n, C) per-source 1 / (k + rank), computed once per k
    for j, (w, k) in enumerate(settings):
        if k not in contrib:
            contrib = {k: rank_contributions(cands.ranks, k)}
        scores = np.tensordot(np.asarray(w, np.float32), contrib[k], axes=1)
        scores[~cands.valid] = -np.inf
        cols, _ = topk_rows(scores, 10)
        hits = (cols >= 0) & hits_all[rows, np.maximum(cols, 0)]
        out[j] = ndcg(hits, np.maximum(n_rel, 1), 10)
    return out


def tune_fusion(cands: Candidates, truth: sp.csr_matrix, *, weights: Sequence[float] = FUSION_WEIGHTS,
                ks: Sequence[float] = FUSION_KS, folds: int | None = 5, seed: int = 2020) -> FusionChoice:
    """Grid-search fusion weights and ``k`` for the highest mean NDCG@10 over ``truth``'s users.

    ``cands`` row r and ``truth`` row r are the same user; rows without a relevant item are
    ignored. Ties keep the earlier setting of :func:`fusion_settings` (smaller k, then smaller weights
    on the earlier sources). ``folds=None`` skips the out-of-fold estimate.
    """
    if truth.shape[0] != cands.shape[0]:
        raise ConfigError(f"truth has {truth.shape[0]} rows for {cands.shape[0]} candidate rows: one row per user")
    check_folds(folds)
    keep = np.diff(truth.tocsr().indptr) > 0
    if keep.sum() < (folds or 1):
        raise DataError(f"{int(keep.sum())} labelled users: too few to choose fusion weights"
                        + (f" with {folds} folds" if folds else ""))
    settings = fusion_settings(cands.sources, weights, ks)
    sub = Candidates(cands.sources, cands.items[keep], cands.scores[:, keep], cands.ranks[:, keep])
    table = per_user_ndcg(sub, truth.tocsr()[keep], settings)  # (settings, users)
    mean = table.mean(1)
    best = int(np.argmax(mean))

    def named(i: int) -> dict[str, float]:
        return dict(zip(cands.sources, settings[i][0]))

    cv, chosen, oof = None, [], np.zeros(0)
    if folds is not None:
        fold = np.random.default_rng(seed).permutation(table.shape[1]) % folds
        oof = np.empty(table.shape[1])
        for f in range(folds):
            pick = int(np.argmax(table[:, fold != f].mean(1)))
            oof[fold == f] = table[pick, fold == f]
            chosen.append((named(pick), settings[pick][1]))
        cv = float(oof.mean())
    return FusionChoice(named(best), settings[best][1], float(mean[best]), cv, int(table.shape[1]),
                        len(settings), chosen, np.flatnonzero(keep), oof)
