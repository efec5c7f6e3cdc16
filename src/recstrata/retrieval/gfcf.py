"""GF-CF: graph filter collaborative filtering (Shen et al., "How Powerful is Graph Convolution
for Recommendation?", CIKM 2021).

With R̃ = D_U^-1/2 R D_I^-1/2 (degree-normalised user x item matrix) and V the top-``k`` right
singular vectors of R̃, a user's scores are

    s_u = r_u (R̃ᵀR̃ + alpha · D_I^-1/2 V Vᵀ D_I^1/2)

a linear low-pass filter on the item graph plus an "ideal" low-pass filter keeping only the k
smoothest graph frequencies. No training: V comes from the eigendecomposition of R̃ᵀR̃ (the same
O(n_items³) cost as EASE's inverse, and deterministic unlike an iterative sparse SVD).

``rating_weight`` β > 0 builds R (and so the degrees) from explicit ratings, each cell
``1 - β + β * rating / top rating`` instead of 1, like EASE's option; known users are scored from
their weighted rows, a history given at request time is binary. The default 0 is the paper's GF-CF.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recstrata.data.dataset import Dataset
from recstrata.errors import ConfigError
from recstrata.retrieval._item_item import DenseItemWeights, RatingWeightedUsers
from recstrata.retrieval._params import check_int, check_number
from recstrata.retrieval.base import Recommender


def _inv_sqrt(degrees: np.ndarray) -> np.ndarray:
    return np.where(degrees > 0, 1.0 / np.sqrt(np.where(degrees > 0, degrees, 1.0)), 0.0)


class GFCF(RatingWeightedUsers, DenseItemWeights, Recommender):
    name = "gfcf"

    def __init__(self, k: int = 64, alpha: float = 0.3, rating_weight: float = 0.0) -> None:
        self.k = k
        self.alpha = alpha
        self.rating_weight = rating_weight

    def check_params(self) -> None:
        check_int(self, "k")
        check_number(self, "alpha", 0.0, hint=" (0 = the linear filter alone)")
        super().check_params()

    def _fit(self, dataset: Dataset) -> None:
        n_items = dataset.n_items
        if self.k > n_items:
            raise ConfigError(f"GF-CF needs k <= n_items ({n_items}), got k={self.k}")
        r = self._weighted(dataset)  # float64; binary when rating_weight is 0
        du = _inv_sqrt(np.asarray(r.sum(1)).ravel())
        item_degree = np.asarray(r.sum(0)).ravel()
        di = _inv_sqrt(item_degree)
        norm = sp.diags(du) @ r @ sp.diags(di)
        gram = (norm.T @ norm).toarray()  # R̃ᵀR̃ (items, items), symmetric PSD
        w = gram.copy()
        if self.alpha > 0:
            _, vecs = np.linalg.eigh(gram)  # eigenvalues ascending; R̃'s right singular vectors
            v = vecs[:, -int(self.k):]  # (items, k)
            # D_I^-1/2 V Vᵀ D_I^1/2; items nobody interacted with get zero rows and columns
            w += self.alpha * (di[:, None] * v) @ (v.T * np.sqrt(item_degree)[None, :])
        self.weights_ = w.astype(np.float32)

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        return self.weights_[items]  # rows here (the low-pass term is not symmetric); EASE uses columns
