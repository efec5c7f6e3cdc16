"""Implicit-feedback ALS (Hu, Koren & Volinsky, ICDM 2008) via the ``implicit`` library.

Confidence c = alpha * r on a user's items and 1 elsewhere (the ``implicit`` library's convention:
the paper's 1 + alpha' * r with alpha' = alpha - 1 for binary r). A new or updated history is folded
in with the exact ALS least-squares step for one user (the one implicit's ``recalculate_user``
takes), so no retraining is needed for a fresh event.

``rating_weight`` β > 0 fits on explicit ratings: r = ``1 - β + β * rating / top rating`` instead of 1
(as EASE's option, :func:`~recstrata.retrieval._item_item.weighted_interactions`). Known users keep
the factors fitted on their weighted rows; a history given at request time is binary, each item
counting like a top rating. The default 0 is the binary model.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recstrata.data.dataset import Dataset
from recstrata.retrieval._factors import FactorModel
from recstrata.retrieval._item_item import check_rating_weight, weighted_interactions
from recstrata.retrieval._params import check_int, check_number


class ALS(FactorModel):
    name = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 10.0,
        alpha: float = 2.0,
        iterations: int = 15,
        seed: int = 2020,
        rating_weight: float = 0.0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed
        self.rating_weight = rating_weight

    def check_params(self) -> None:
        for name in ("factors", "iterations"):
            check_int(self, name)
        check_number(self, "regularization", 0.0)
        check_number(self, "alpha", 0.0, low_open=True, hint=" (the confidence of an observed item)")
        check_int(self, "seed", 0)
        check_rating_weight(self)

    def _fit_matrix(self, dataset: Dataset) -> sp.csr_matrix:
        if self.rating_weight == 0:
            return dataset.user_items  # float32 as before: the binary fit stays bit for bit
        return weighted_interactions(dataset, self.rating_weight).astype(np.float32)

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
        # For each user: (YᵀY + Yᵀ(C-I)Y + λI) x = Yᵀ C p,
        # with C = alpha * r on the history (p = 1 there)
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
            a = yty + (yu.T * (conf - 1.0)) @ yu + reg
            b = (yu.T * conf).sum(1)
            out[u] = np.linalg.solve(a, b)
        return out
