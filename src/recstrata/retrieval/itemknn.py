"""Item-based k-nearest-neighbours with cosine similarity (Sarwar et al., WWW 2001).

score(u, j) = sum over the user's items i of sim(i, j), keeping for every item j only its
``k`` most similar items; ``shrink`` damps similarities supported by few co-occurrences.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recstrata.data.dataset import Dataset
from recstrata.retrieval._item_item import SparseItemSimilarity
from recstrata.retrieval._params import check_int, check_number
from recstrata.retrieval.base import Recommender


def _keep_top_k_per_column(sim: sp.csc_matrix, k: int) -> sp.csr_matrix:
    sim = sim.tocsc()
    indptr, indices, data = sim.indptr, sim.indices, sim.data
    rows, cols, vals = [], [], []
    for j in range(sim.shape[1]):
        s, e = indptr[j], indptr[j + 1]
        if e - s > k:
            top = np.argpartition(-data[s:e], k - 1)[:k] + s
        else:
            top = np.arange(s, e)
        rows.append(indices[top])
        cols.append(np.full(len(top), j))
        vals.append(data[top])
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=sim.shape, dtype=np.float32
    )


class ItemKNN(SparseItemSimilarity, Recommender):
    name = "itemknn"

    def __init__(self, k: int = 100, shrink: float = 0.0) -> None:
        self.k = k
        self.shrink = shrink

    def check_params(self) -> None:
        check_int(self, "k")
        check_number(self, "shrink", 0.0)

    def _fit(self, dataset: Dataset) -> None:
        x = dataset.user_items.astype(np.float64)
        co = (x.T @ x).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        norms = np.sqrt(np.asarray(x.sum(0)).ravel())  # binary: ||column|| = sqrt(count)
        co = co.tocoo()
        denom = norms[co.row] * norms[co.col] + self.shrink + 1e-12
        sim = sp.csc_matrix((co.data / denom, (co.row, co.col)), shape=co.shape)
        self.similarity_ = _keep_top_k_per_column(sim, int(self.k))

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        return self.similarity_.T[items].toarray()
