"""EASE: embarrassingly shallow autoencoder (Steck, "Embarrassingly Shallow Autoencoders for
Sparse Data", WWW 2019).

Closed form: P = (XᵀX + λI)⁻¹, B = -P / diag(P) column-wise, diag(B) = 0; scores = X B.
The inverse is taken in float64 (as RecBole does) so results match it to the fourth decimal.
Memory is O(n_items²): fine up to a few tens of thousands of items.

``rating_weight`` β > 0 fits X on explicit ratings (each cell ``1 - β + β * rating / top rating``)
instead of binary interactions: the items a user rated highly say more about what they watch next
(ML-100K validation NDCG@10: bench/results/ranker-round4.md). The default 0 is RecBole's binary EASE.
"""

from __future__ import annotations

from recstrata.data.dataset import Dataset
from recstrata.retrieval._item_item import DenseItemWeights, RatingWeightedUsers, linear_autoencoder
from recstrata.retrieval._params import check_number
from recstrata.retrieval.base import Recommender


class EASE(RatingWeightedUsers, DenseItemWeights, Recommender):
    name = "ease"

    def __init__(self, reg: float = 250.0, rating_weight: float = 0.0) -> None:
        self.reg = reg
        self.rating_weight = rating_weight

    def check_params(self) -> None:
        check_number(self, "reg", 0.0, low_open=True)
        super().check_params()

    def _fit(self, dataset: Dataset) -> None:
        x = self._weighted(dataset)
        self.weights_ = linear_autoencoder((x.T @ x).toarray(), self.reg, zero_diagonal=True)
