"""LightGCN (He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for
Recommendation", SIGIR 2020).

Users and items are nodes of the bipartite interaction graph with normalised adjacency
``Â = D^-1/2 A D^-1/2``. Only the layer-0 embeddings ``E⁰`` are parameters; layer k is
``Eᵏ = Â Eᵏ⁻¹`` (no weights, no non-linearity) and a node's final vector is the mean of its layers
0..K. Trained with BPR loss (one uniformly sampled unseen negative per positive) and L2 on the
layer-0 rows used.

Fold-in for a new history ``h`` (no retraining): the propagation rule applied to a new user row
with the items' trained layers held fixed, ``e_uᵏ = Σ_{i∈h} e_iᵏ⁻¹ / sqrt(|h| d_i)`` for k = 1..K,
and ``e_u⁰ = 0`` (the user has no trained embedding); the user vector is the mean of those layers.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recstrata.data.dataset import Dataset
from recstrata.retrieval._params import check_int, check_number
from recstrata.retrieval._torch import seeded, sparse_tensor, torch_module
from recstrata.retrieval._torch import threads as torch_threads
from recstrata.retrieval.base import Recommender


def normalised_adjacency(X: sp.csr_matrix) -> sp.csr_matrix:
    """(U+N, U+N) symmetric ``D^-1/2 A D^-1/2`` of the bipartite graph with user-item block ``X``."""
    A = sp.bmat([[None, X], [X.T, None]], format="csr", dtype=np.float32)
    deg = np.asarray(A.sum(axis=1)).ravel()
    inv = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1e-12)), 0.0).astype(np.float32)
    return sp.csr_matrix(sp.diags(inv) @ A @ sp.diags(inv), dtype=np.float32)


class LightGCN(Recommender):
    name = "lightgcn"

    def __init__(
        self,
        dim: int = 64,
        layers: int = 3,
        learning_rate: float = 5e-3,
        reg: float = 1e-4,
        epochs: int = 200,
        batch_size: int = 4096,
        seed: int = 2020,
        threads: int | None = 1,
    ) -> None:
        self.dim = dim
        self.layers = layers
        self.learning_rate = learning_rate
        self.reg = reg
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.threads = threads

    def check_params(self) -> None:
        for name in ("dim", "batch_size"):
            check_int(self, name)
        check_int(self, "layers", 0)  # 0 layers: plain matrix factorisation trained with BPR
        check_int(self, "epochs", 0)
        check_number(self, "learning_rate", 0.0, low_open=True)
        check_number(self, "reg", 0.0)
        check_int(self, "seed", 0)
        check_int(self, "threads", none="torch's default")

    def _fit(self, dataset: Dataset) -> None:
        torch = torch_module(f"the {self.name} model")
        with torch_threads(self.threads):
            self._train(torch, dataset.user_items)

    def _propagate(self, torch, adj, ego):
        """(U+N, d) layer-0 embeddings -> list of K+1 layers, each (U+N, d)."""
        out = [ego]
        for _ in range(self.layers):
            out.append(torch.sparse.mm(adj, out[-1]))
        return out

    def _train(self, torch, X: sp.csr_matrix) -> None:
        n_users, n_items = X.shape
        adj = sparse_tensor(normalised_adjacency(X))
        users = np.repeat(np.arange(n_users), np.diff(X.indptr))
        items = X.indices.astype(np.int64)
        rng = np.random.default_rng(self.seed)
        with seeded(self.seed):
            ego = torch.nn.Parameter(torch.randn(n_users + n_items, self.dim) * 0.1)
        opt = torch.optim.Adam([ego], lr=self.learning_rate)
        for _ in range(self.epochs):
            order = rng.permutation(len(items))
            for start in range(0, len(order), self.batch_size):
                b = order[start : start + self.batch_size]
                u, i = users[b], items[b]
                j = self._negatives(X, u, rng)
                final = torch.stack(self._propagate(torch, adj, ego)).mean(0)  # (U+N, d)
                u_t, i_t, j_t = (torch.from_numpy(a.astype(np.int64)) for a in (u, i + n_users, j + n_users))
                eu, ei, ej = final[u_t], final[i_t], final[j_t]  # (B, d) each
                bpr = -torch.nn.functional.logsigmoid((eu * ei).sum(-1) - (eu * ej).sum(-1)).mean()
                l2 = (ego[u_t].pow(2).sum() + ego[i_t].pow(2).sum() + ego[j_t].pow(2).sum()) / (2 * len(b))
                loss = bpr + self.reg * l2
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            layers = [t.numpy() for t in self._propagate(torch, adj, ego)]
        final = np.mean(layers, axis=0).astype(np.float32)
        self.user_vectors_ = final[:n_users].copy()
        self.item_vectors_ = final[n_users:].copy()
        # items' layers 0..K-1 feed a new user's layers 1..K (fold-in)
        item_layers = [layer[n_users:] for layer in layers[: self.layers]]
        self.item_layers_ = np.array(item_layers, np.float32).reshape(self.layers, n_items, self.dim)
        self.item_degree_ = np.diff(X.tocsc().indptr).astype(np.float32)

    @staticmethod
    def _negatives(X: sp.csr_matrix, users: np.ndarray, rng: np.random.Generator, tries: int = 5
                   ) -> np.ndarray:
        """One uniformly drawn item per user that the user has not interacted with (a few redraws)."""
        n_items = X.shape[1]
        neg = rng.integers(0, n_items, len(users))
        for _ in range(tries):
            clash = np.asarray(X[users, neg]).ravel() > 0
            if not clash.any():
                break
            neg[clash] = rng.integers(0, n_items, int(clash.sum()))
        return neg

    # ---- scoring ----------------------------------------------------------------------------------
    def _fold_in(self, histories: sp.csr_matrix) -> np.ndarray:
        """(n, d) user vectors for binary histories, by one-sided propagation (see module docstring)."""
        size = np.asarray(histories.sum(axis=1)).ravel()
        # Â's row for a new user: 1 / sqrt(|h| d_i) on its items
        weights = sp.diags(1.0 / np.sqrt(np.maximum(size, 1.0))) @ histories @ sp.diags(
            1.0 / np.sqrt(np.maximum(self.item_degree_, 1.0)))
        layers = [weights @ self.item_layers_[k] for k in range(self.layers)]  # user layers 1..K
        return (np.sum(layers, axis=0) / (self.layers + 1)).astype(np.float32) if layers else \
            np.zeros((histories.shape[0], self.dim), np.float32)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self.user_vectors_[users] @ self.item_vectors_.T

    def _score_histories(self, histories: sp.csr_matrix) -> np.ndarray:
        return self._fold_in(histories) @ self.item_vectors_.T

    def item_vectors(self) -> np.ndarray:
        return self.item_vectors_

    def user_vectors(self, users: np.ndarray | None = None) -> np.ndarray:
        return self.user_vectors_ if users is None else self.user_vectors_[np.asarray(users, dtype=np.int64)]

    def query_vectors(self, users=None, *, histories: sp.csr_matrix | None = None) -> np.ndarray:
        """Final-layer vectors of known ``users``, or the fold-in of binary ``histories``."""
        self._check_fitted()
        if histories is not None:
            return self._fold_in(sp.csr_matrix(histories, dtype=np.float32))
        return self.user_vectors_[np.asarray(users, dtype=np.int64)]

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_vectors": self.user_vectors_, "item_vectors": self.item_vectors_,
                "item_layers": self.item_layers_, "item_degree": self.item_degree_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_vectors_ = arrays["user_vectors"]
        self.item_vectors_ = arrays["item_vectors"]
        self.item_layers_ = arrays["item_layers"]
        self.item_degree_ = arrays["item_degree"]
