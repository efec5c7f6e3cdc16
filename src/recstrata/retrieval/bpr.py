"""Bayesian Personalized Ranking matrix factorisation (Rendle et al., UAI 2009) via ``implicit``.

BPR has no closed-form fold-in; a new history is represented by the mean of its items' factors
(the item-bias column gets weight 1, as implicit's user factors do).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recstrata.retrieval._factors import FactorModel
from recstrata.retrieval._params import check_int, check_number


class BPR(FactorModel):
    name = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.05,
        iterations: int = 200,
        seed: int = 2020,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.seed = seed

    def check_params(self) -> None:
        for name in ("factors", "iterations"):
            check_int(self, name)
        check_number(self, "learning_rate", 0.0, low_open=True)
        check_number(self, "regularization", 0.0)
        check_int(self, "seed", 0)

    def _make_model(self):
        implicit = self._implicit()
        return implicit.cpu.bpr.BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            random_state=self.seed,
        )

    def _fold_in(self, histories: sp.csr_matrix) -> np.ndarray:
        counts = np.asarray(histories.sum(1)).ravel()
        mean = (histories @ self.item_factors_) / np.maximum(counts, 1)[:, None]
        mean[:, -1] = 1.0  # implicit stores the item bias as the last factor; users weight it by 1
        return mean.astype(np.float32)
