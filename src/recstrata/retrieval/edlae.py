"""EDLAE / DLAE: (emphasized) denoising linear autoencoders (Steck, "Autoencoders that don't
overfit towards the Identity", NeurIPS 2020).

Training a full-rank linear autoencoder B with input dropout of probability p is, in expectation,
ridge regression with the dropout-emphasis penalty Λ = p/(1-p)·diag(XᵀX) + λI: popular items get
a larger penalty on their self-reconstruction. With P = (XᵀX + Λ)⁻¹:

- DLAE  (``zero_diagonal=False``): B = (XᵀX + Λ)⁻¹ XᵀX = I - PΛ;
- EDLAE (``zero_diagonal=True``, the paper's emphasized, full-rank variant): B = -P / diag(P)
  column-wise with diag(B) = 0 - EASE's solution under the dropout penalty (p = 0 gives EASE).

scores = X B. Inverse in float64; memory O(n_items²) as for EASE.
"""

from __future__ import annotations

import numpy as np

from recstrata.data.dataset import Dataset
from recstrata.retrieval._item_item import DenseItemWeights, RatingWeightedUsers, linear_autoencoder
from recstrata.retrieval._params import check_bool, check_number
from recstrata.retrieval.base import Recommender


class EDLAE(RatingWeightedUsers, DenseItemWeights, Recommender):
    name = "edlae"

    def __init__(self, dropout: float = 0.25, reg: float = 10.0, zero_diagonal: bool = True,
                 rating_weight: float = 0.0) -> None:
        self.dropout = dropout
        self.reg = reg
        self.zero_diagonal = zero_diagonal
        self.rating_weight = rating_weight  # as EASE's: 0 = binary interactions

    def check_params(self) -> None:
        check_number(self, "dropout", 0.0, 1.0, high_open=True)
        check_number(self, "reg", 0.0, low_open=True)
        check_bool(self, "zero_diagonal")
        super().check_params()

    def _fit(self, dataset: Dataset) -> None:
        x = self._weighted(dataset)
        gram = (x.T @ x).toarray()  # (items, items)
        penalty = self.dropout / (1.0 - self.dropout) * np.diag(gram) + self.reg  # diagonal of Λ
        self.weights_ = linear_autoencoder(gram, penalty, zero_diagonal=self.zero_diagonal)
