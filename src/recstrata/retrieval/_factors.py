"""Shared plumbing for matrix-factorisation models backed by the ``implicit`` library."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from recstrata._optional import require
from recstrata.data.dataset import Dataset
from recstrata.retrieval.base import Recommender


class FactorModel(Recommender):
    """A model whose scores are ``user_factors @ item_factors.T``."""

    def _implicit(self):
        return require("implicit", extra="cf", purpose=f"the {self.name} model")

    def _fit(self, dataset: Dataset) -> None:
        from threadpoolctl import threadpool_limits

        # implicit parallelises itself; a multi-threaded BLAS underneath only oversubscribes the cores
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            # implicit warns about BLAS threads it sees before our limit applies to late-loaded libraries
            warnings.filterwarnings("ignore", message="OpenBLAS is configured", category=RuntimeWarning)
            model = self._make_model()
            model.fit(self._fit_matrix(dataset), show_progress=False)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)

    def _fit_matrix(self, dataset: Dataset) -> sp.csr_matrix:
        return dataset.user_items

    def _make_model(self):
        raise NotImplementedError

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[users] @ self.item_factors_.T

    def _score_histories(self, histories: sp.csr_matrix) -> np.ndarray:
        return self._fold_in(histories) @ self.item_factors_.T

    def _fold_in(self, histories: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError

    def item_vectors(self) -> np.ndarray:
        return self.item_factors_

    def user_vectors(self, users: np.ndarray | None = None) -> np.ndarray:
        return self.user_factors_ if users is None else self.user_factors_[users]

    def query_vectors(self, users=None, *, histories: sp.csr_matrix | None = None) -> np.ndarray:
        """User factors of known ``users``, or the fold-in of binary ``histories``."""
        self._check_fitted()
        if histories is not None:
            return self._fold_in(sp.csr_matrix(histories, dtype=np.float32))
        return self.user_factors_[np.asarray(users, dtype=np.int64)]

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors_ = arrays["user_factors"]
        self.item_factors_ = arrays["item_factors"]
