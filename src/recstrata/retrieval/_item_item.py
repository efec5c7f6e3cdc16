"""Shared parts of item-item models: scores = history @ W, with W dense (linear autoencoders)
or sparse (neighbourhood models), persisted as plain arrays."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recstrata.retrieval._params import check_number


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


def weighted_interactions(dataset, rating_weight: float) -> sp.csr_matrix:
    """(users x items) float64 rows: ``1 - β + β * rating / top rating`` per interaction (β =
    ``rating_weight``; 0 = binary; repeated pairs are summed, then capped at the top rating). A data
    set without ratings (all weights equal) gives the binary matrix; served events folded in by
    :func:`recstrata.data.events.with_events` carry the top rating, and an item in a history given
    at request time counts 1, like a top rating."""
    if rating_weight == 0:
        return dataset.user_items.astype(np.float64)
    x = dataset.matrix("rating").astype(np.float64)
    top = x.data.max(initial=0.0)
    if top <= 0 or x.data.min(initial=top) == top:
        return dataset.user_items.astype(np.float64)
    x.data = 1.0 - rating_weight + rating_weight * np.clip(x.data, 0.0, top) / top
    return x


def check_rating_weight(model) -> None:
    """ConfigError unless ``model.rating_weight`` is a number in [0, 1]."""
    check_number(model, "rating_weight", 0.0, 1.0, hint=" (0 = binary interactions)")


class RatingWeightedUsers:
    """Mixin for models with a ``rating_weight``: known users are scored from their rating-weighted
    training rows (kept in ``user_rows_``, saved with the model); a history given at request time is
    binary, i.e. each of its items counts like a top-rated one."""

    rating_weight: float

    def check_params(self) -> None:
        check_rating_weight(self)
        super().check_params()  # type: ignore[misc]

    def _weighted(self, dataset) -> sp.csr_matrix:
        x = weighted_interactions(dataset, self.rating_weight)
        self.user_rows_ = None if self.rating_weight == 0 else x.astype(np.float32).tocsr()
        return x

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        rows = getattr(self, "user_rows_", None)
        return self._score_histories(self.seen_[users] if rows is None else rows[users])

    def _state(self) -> dict[str, np.ndarray]:
        state = super()._state()
        rows = getattr(self, "user_rows_", None)
        if rows is not None:
            state |= {"rows_indptr": rows.indptr, "rows_indices": rows.indices, "rows_data": rows.data}
        return state

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        super()._set_state(arrays)
        self.user_rows_ = None
        if "rows_data" in arrays:
            self.user_rows_ = sp.csr_matrix((arrays["rows_data"], arrays["rows_indices"], arrays["rows_indptr"]),
                                            shape=(len(arrays["rows_indptr"]) - 1, self.weights_.shape[0]))


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
