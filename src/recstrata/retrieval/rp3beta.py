"""RP3beta: item-item transition probabilities of a 3-step random walk, popularity-penalised
(Paudel, Christoffel, Newell & Bernstein, "Updatable, Accurate, Diverse, and Scalable
Recommendations for Interactive Applications", ACM TiiS 2017; a strong baseline in Dacrema et al.,
RecSys 2019).

W[i, j] = (P_iu @ P_ui)[i, j] ** alpha / pop(j) ** beta with P_ui, P_iu the row-normalised
user -> item and item -> user transition matrices; every row of W keeps its ``k`` largest entries
and is then L1-normalised. score(u, j) = sum over the user's items i of W[i, j].
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recstrata.data.dataset import Dataset
from recstrata.retrieval._item_item import SparseItemSimilarity
from recstrata.retrieval._params import check_int, check_number
from recstrata.retrieval.base import Recommender
from recstrata.retrieval.itemknn import _keep_top_k_per_column


def _row_normalise(m: sp.csr_matrix) -> sp.csr_matrix:
    sums = np.asarray(m.sum(1)).ravel()
    return sp.diags(1.0 / np.where(sums > 0, sums, 1.0)) @ m


class RP3beta(SparseItemSimilarity, Recommender):
    name = "rp3beta"

    def __init__(self, k: int = 200, alpha: float = 1.0, beta: float = 0.5) -> None:
        self.k = k
        self.alpha = alpha
        self.beta = beta

    def check_params(self) -> None:
        check_int(self, "k")
        check_number(self, "alpha", 0.0, low_open=True)
        check_number(self, "beta", 0.0, hint=" (0 = no popularity penalty)")

    def _fit(self, dataset: Dataset) -> None:
        x = sp.csr_matrix(dataset.user_items, dtype=np.float64)
        x.data[:] = 1.0
        walk = (_row_normalise(x.T.tocsr()) @ _row_normalise(x)).tocsr()  # (items, items) i -> u -> j
        walk.setdiag(0)
        walk.eliminate_zeros()
        walk.data **= self.alpha
        pop = np.asarray(x.sum(0)).ravel()
        walk = walk @ sp.diags(1.0 / np.where(pop > 0, pop, 1.0) ** self.beta)
        top = _keep_top_k_per_column(walk.T.tocsc(), int(self.k)).T.tocsr()  # k largest per row i
        self.similarity_ = _row_normalise(top).astype(np.float32).tocsr()

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        return self.similarity_[items].toarray()
