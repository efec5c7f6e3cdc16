"""Small consumers of enrichment outputs, used by ``enrich_ml100k.py`` to measure the payoff.

Written for the benchmark while the two-tower / ranker hooks are not merged on this branch:

- ``TagContent``: a content model (TF-IDF weighted item features, user profile = sum of the
  history's item features, cosine score). It scores cold items: it needs no interaction on them.
- ``Blend``: EASE (Steck, WWW 2019) plus ``beta`` x ``TagContent``, both z-scored per user.
- ``NumpyBPR``: BPR-MF (Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit
  Feedback", UAI 2009) with mini-batch SGD, where a share of the negatives can come from a given
  set of (user, item) hard negatives instead of the uniform sampler.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recstrata.retrieval.base import Recommender
from recstrata.retrieval.ease import EASE


def _tfidf_rows(features: sp.csr_matrix) -> sp.csr_matrix:
    f = sp.csr_matrix(features, dtype=np.float32)
    df = np.asarray((f > 0).sum(axis=0)).ravel()
    idf = np.log((1 + f.shape[0]) / (1 + df)).astype(np.float32) + 1.0
    f = f @ sp.diags(idf)
    norms = np.sqrt(np.asarray(f.multiply(f).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-9)) @ f, dtype=np.float32)


class TagContent(Recommender):
    name = "tag-content"

    def __init__(self, features: sp.csr_matrix | None = None) -> None:
        self.features = features

    def _fit(self, dataset) -> None:
        self.item_f_ = _tfidf_rows(self.features)  # (I, T)

    def _score_histories(self, histories: sp.csr_matrix) -> np.ndarray:
        prof = (histories @ self.item_f_).toarray()  # (n, T)
        prof /= np.maximum(np.linalg.norm(prof, axis=1, keepdims=True), 1e-9)
        return (self.item_f_ @ prof.T).T  # (n, I)


def _zrows(s: np.ndarray) -> np.ndarray:
    return (s - s.mean(axis=1, keepdims=True)) / np.maximum(s.std(axis=1, keepdims=True), 1e-9)


_EASE_CACHE: dict = {}


class Blend(Recommender):
    name = "ease+content"

    def __init__(self, features: sp.csr_matrix | None = None, beta: float = 0.1, reg: float = 250.0) -> None:
        self.features, self.beta, self.reg = features, beta, reg

    def _fit(self, dataset) -> None:
        key = (id(dataset), self.reg)  # the EASE part does not depend on beta: fit it once per dataset
        if key not in _EASE_CACHE:
            _EASE_CACHE[key] = EASE(self.reg).fit(dataset)
        self.ease_ = _EASE_CACHE[key]
        self.content_ = TagContent(self.features).fit(dataset)

    def _score_histories(self, histories: sp.csr_matrix) -> np.ndarray:
        e = np.asarray(self.ease_._score_histories(histories))
        if self.beta == 0:
            return e
        return _zrows(e) + self.beta * _zrows(np.asarray(self.content_._score_histories(histories)))


class NumpyBPR(Recommender):
    name = "bpr-np"

    def __init__(self, factors: int = 64, epochs: int = 40, lr: float = 0.05, reg: float = 0.002,
                 batch: int = 512, hard: tuple[np.ndarray, np.ndarray] | None = None, hard_share: float = 0.0,
                 seed: int = 0) -> None:
        self.factors, self.epochs, self.lr, self.reg, self.batch = factors, epochs, lr, reg, batch
        self.hard, self.hard_share, self.seed = hard, hard_share, seed

    def _fit(self, dataset) -> None:
        rng = np.random.default_rng(self.seed)
        x = dataset.user_items.tocsr()
        n_u, n_i = x.shape
        u_f = rng.normal(0, 0.1, (n_u, self.factors)).astype(np.float32)
        i_f = rng.normal(0, 0.1, (n_i, self.factors)).astype(np.float32)
        users = np.repeat(np.arange(n_u), np.diff(x.indptr))
        items = x.indices.astype(np.int64)
        seen = set(zip(users.tolist(), items.tolist()))
        hard_by_user: dict[int, np.ndarray] = {}
        if self.hard is not None and self.hard_share > 0:
            hu, hi = self.hard
            for u in np.unique(hu):
                hard_by_user[int(u)] = hi[hu == u]
        for _ in range(self.epochs):
            order = rng.permutation(len(users))
            for s in range(0, len(order), self.batch):
                b = order[s : s + self.batch]
                u, i = users[b], items[b]
                j = rng.integers(0, n_i, len(b))
                if hard_by_user:
                    pick = rng.random(len(b)) < self.hard_share
                    for k in np.flatnonzero(pick):
                        cands = hard_by_user.get(int(u[k]))
                        if cands is not None and len(cands):
                            j[k] = cands[rng.integers(len(cands))]
                ok = np.array([(a, c) not in seen for a, c in zip(u.tolist(), j.tolist())])
                u, i, j = u[ok], i[ok], j[ok]
                pu, qi, qj = u_f[u], i_f[i], i_f[j]  # (B, d) each
                x_uij = np.einsum("bd,bd->b", pu, qi - qj)
                g = (1.0 / (1.0 + np.exp(np.clip(x_uij, -30, 30))))[:, None]  # d(-log sigma)/dx, (B, 1)
                np.add.at(u_f, u, self.lr * (g * (qi - qj) - self.reg * pu))
                np.add.at(i_f, i, self.lr * (g * pu - self.reg * qi))
                np.add.at(i_f, j, self.lr * (-g * pu - self.reg * qj))
        self.user_factors_, self.item_factors_ = u_f, i_f

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[users] @ self.item_factors_.T

    def _score_histories(self, histories: sp.csr_matrix) -> np.ndarray:
        n = np.maximum(np.asarray(histories.sum(axis=1)), 1.0)
        return (np.asarray(histories @ self.item_factors_) / n) @ self.item_factors_.T
