"""Shared parts of item-item models: scores = history @ W, with W dense (linear autoencoders)
or sparse (neighbourhood models), persisted as plain arrays."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def linear_autoencoder(gram: np.ndarray, penalty: np.ndarray | float, zero_diagonal: bool = True) -> np.ndarray:
    """Closed-form item-item weights of a ridge-regularised linear autoencoder (float32).

    With P = (G + diag(penalty))⁻¹ (float64): ``zero_diagonal`` gives EASE's constrained solution
    B = -P / diag(P) column-wise, diag(B) = 0; otherwise the unconstrained B = I - P·diag(penalty).
    ``gram`` (XᵀX, dense) is modified in place.
    """
    penalty = np.broadcast_to(np.asarray(penalty, np.float64), (gram.shape[0],))
    gram[np.diag_indices_from(gram)] += penalty
    p = np.linalg.inv(gram)
    if zero_diagonal:
        b = -p / np.diag(p)[None, :]
        b[np.diag_indices_from(b)] = 0.0
    else:
        b = np.eye(len(p)) - p * penalty[None, :]
    return b.astype(np.float32)


class DenseItemWeights:
    """Mixin for a Recommender holding ``weights_`` (n_items x n_items, dense)."""

    weights_: np.ndarray

    def _score_histories(self, histories: sp.csr_matrix) -> np.ndarray:
        return histories @ self.weights_

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        return self.weights_[:, items].T

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.weights_ = arrays["weights"]


class SparseItemSimilarity:
    """Mixin for a Recommender holding ``similarity_`` (n_items x n_items CSR)."""

    similarity_: sp.csr_matrix

    def _score_histories(self, histories: sp.csr_matrix) -> np.ndarray:
        return (histories @ self.similarity_).toarray()

    def _state(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        return {"indptr": s.indptr, "indices": s.indices, "data": s.data, "shape": np.array(s.shape)}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.similarity_ = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=tuple(arrays["shape"])
        )
