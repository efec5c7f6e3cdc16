"""User-based k-nearest-neighbours on binary histories (Herlocker et al., SIGIR 1999), with
Aiolli's asymmetric cosine and locality exponent ("Efficient Top-N Recommendation for Very Large
Scale Binary Rated Datasets", RecSys 2013).

A user u is compared with every training user v through their binary histories,

    sim(u, v) = |h_u ∩ h_v| / (|h_u|^α · |h_v|^(1-α) + shrink),

α = ``asymmetry`` (0.5: cosine; lower values penalise neighbours with long histories more), only
the ``k`` most similar training users are kept, and

    score(u, j) = Σ_{v in top-k(u)} sim(u, v)^q · x_vj,     q = ``locality``

(q > 1 lets the closest neighbours dominate). ``shrink`` damps similarities resting on few shared
items. Nothing is learned but the training matrix itself (the model's ``seen_``), so any history
given at recommend time - a new user or an updated one - is scored against the training users
without refitting. A known user is never their own neighbour; an anonymous history equal to a
training user's does have that user as a neighbour, but that neighbour's items are exactly the
history, so it only changes which other ``k - 1`` users are kept.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recstrata.data.dataset import Dataset
from recstrata.retrieval._params import check_int, check_number
from recstrata.retrieval.base import Recommender


class UserKNN(Recommender):
    name = "userknn"

    def __init__(
        self, k: int = 50, shrink: float = 0.0, asymmetry: float = 0.5, locality: float = 1.0
    ) -> None:
        self.k = k
        self.shrink = shrink
        self.asymmetry = asymmetry
        self.locality = locality

    def check_params(self) -> None:
        check_int(self, "k")
        check_number(self, "shrink", 0.0)
        check_number(self, "asymmetry", 0.0, 1.0, hint=" (0.5 is cosine)")
        check_number(self, "locality", 0.0, low_open=True, hint=" (1 keeps similarities as they are)")

    def _fit(self, dataset: Dataset) -> None:
        """Nothing to learn: the training matrix is ``self.seen_`` (set by ``Recommender.fit``)."""

    # ---- scoring ----------------------------------------------------------------------------------
    def _neighbour_weights(self, histories: sp.csr_matrix, users: np.ndarray | None) -> sp.csr_matrix:
        """(n, n_users) sparse matrix holding each row's top-``k`` similarities to training users.

        ``users`` (the rows' own training indices, when they are known users) are excluded from
        their own neighbourhoods.
        """
        train = self.seen_
        h = sp.csr_matrix(histories, dtype=np.float32)
        h.data[:] = 1.0  # binary, as the training matrix
        overlap = (h @ train.T).toarray()  # (n, n_users) shared item counts
        size_h = np.diff(h.indptr).astype(np.float32) ** np.float32(self.asymmetry)  # (n,)
        size_t = np.diff(train.indptr).astype(np.float32) ** np.float32(1.0 - self.asymmetry)  # (n_users,)
        denom = size_h[:, None] * size_t[None, :] + np.float32(self.shrink)
        sims = np.divide(overlap, denom, out=np.zeros_like(overlap), where=denom > 0)
        if self.locality != 1.0:
            sims **= np.float32(self.locality)
        if users is not None:
            sims[np.arange(len(users)), users] = 0.0
        n, n_users = sims.shape
        k = min(int(self.k), n_users)
        if k < n_users:
            cols = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # (n, k), unordered
        else:
            cols = np.broadcast_to(np.arange(n_users), (n, n_users))
        rows = np.repeat(np.arange(n), cols.shape[1])
        vals = sims[rows, cols.ravel()]
        keep = vals > 0
        return sp.csr_matrix((vals[keep], (rows[keep], cols.ravel()[keep])), shape=(n, n_users))

    def _score_block(self, histories: sp.csr_matrix, users: np.ndarray | None) -> np.ndarray:
        """Scores for ``histories``, in row chunks so the dense similarity block stays in budget."""
        n = histories.shape[0]
        step = max(1, self.score_budget // max(self.n_users_, 1))
        out = np.zeros((n, self.n_items_), np.float32)
        for s in range(0, n, step):
            e = min(n, s + step)
            weights = self._neighbour_weights(histories[s:e], None if users is None else users[s:e])
            out[s:e] = (weights @ self.seen_).toarray()
        return out

    def _score_histories(self, histories: sp.csr_matrix) -> np.ndarray:
        return self._score_block(histories, None)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self._score_block(self.seen_[users], users)

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        """Cosine of item columns over the training users (the item-item view of the same data)."""
        cols = self.seen_.T.tocsr()  # (n_items, n_users)
        norms = np.sqrt(np.diff(cols.indptr).astype(np.float32))
        co = (cols[items] @ cols.T).toarray()  # (len(items), n_items)
        denom = norms[items][:, None] * norms[None, :] + np.float32(self.shrink)
        return np.divide(co, denom, out=np.zeros_like(co), where=denom > 0)
