"""Implicit-feedback ALS (Hu, Koren & Volinsky, ICDM 2008) via the ``implicit`` library.

Confidence c = 1 + alpha * r. A new or updated history is folded in with the exact ALS
least-squares step for one user, so no retraining is needed for a fresh event.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recstrata.retrieval._factors import FactorModel


class ALS(FactorModel):
    name = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 10.0,
        alpha: float = 2.0,
        iterations: int = 15,
        seed: int = 2020,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed

    def _make_model(self):
        implicit = self._implicit()
        return implicit.cpu.als.AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            random_state=self.seed,
        )

    def _gram(self) -> np.ndarray:
        """YᵀY (d, d), cached per item-factor array: recomputing it reads the whole catalog, which
        at 1M items costs far more than the per-user solve it feeds."""
        cached = getattr(self, "_gram_cache", None)
        if cached is None or cached[0] is not self.item_factors_:
            y = self.item_factors_.astype(np.float64)
            cached = self._gram_cache = (self.item_factors_, y.T @ y)
        return cached[1]

    def _fold_in(self, histories: sp.csr_matrix) -> np.ndarray:
        # For each user: (YᵀY + Yᵀ(C-I)Y + λI) x = Yᵀ C p, with C-I = alpha * r on the history.
        y = self.item_factors_  # only the history rows are cast to float64: the catalog may be 1M rows
        yty = self._gram()
        reg = self.regularization * np.eye(y.shape[1])
        out = np.zeros((histories.shape[0], y.shape[1]), np.float32)
        for u in range(histories.shape[0]):
            s, e = histories.indptr[u], histories.indptr[u + 1]
            idx = histories.indices[s:e]
            if idx.size == 0:
                continue
            conf = self.alpha * histories.data[s:e].astype(np.float64)
            yu = y[idx].astype(np.float64)
            a = yty + (yu.T * conf) @ yu + reg
            b = (yu.T * (1.0 + conf)).sum(1)
            out[u] = np.linalg.solve(a, b)
        return out
