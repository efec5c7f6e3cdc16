"""EASE: embarrassingly shallow autoencoder (Steck, "Embarrassingly Shallow Autoencoders for
Sparse Data", WWW 2019).

Closed form: P = (XᵀX + λI)⁻¹, B = -P / diag(P) column-wise, diag(B) = 0; scores = X B.
The inverse is taken in float64 (as RecBole does) so results match it to the fourth decimal.
Memory is O(n_items²): fine up to a few tens of thousands of items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recstrata.data.dataset import Dataset
from recstrata.errors import ConfigError
from recstrata.retrieval.base import Recommender


class EASE(Recommender):
    name = "ease"

    def __init__(self, reg: float = 250.0) -> None:
        self.reg = reg

    def _fit(self, dataset: Dataset) -> None:
        if self.reg <= 0:
            raise ConfigError(f"EASE needs reg > 0, got {self.reg}")
        x = dataset.user_items.astype(np.float64)
        gram = (x.T @ x).toarray()
        gram[np.diag_indices_from(gram)] += self.reg
        p = np.linalg.inv(gram)
        b = -p / np.diag(p)[None, :]
        b[np.diag_indices_from(b)] = 0.0
        self.weights_ = b.astype(np.float32)

    def _score_histories(self, histories: sp.csr_matrix) -> np.ndarray:
        return histories @ self.weights_

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        return self.weights_[:, items].T

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.weights_ = arrays["weights"]
