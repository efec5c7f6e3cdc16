"""Features of (user, candidate item) pairs for the learned ranker.

    fb = FeatureBuilder().fit(train, item_vectors=als.item_vectors())
    user = fb.user_side(users=[3, 7])                  # or histories=[[...], [...]]
    X = fb.transform(candidates, user)                 # (n * C, F) float32, C-contiguous
    fb.feature_names(candidates.sources)

Families (all vectorised over the (n, C) candidate block; no per-pair Python):

- per source s: ``s:score``, ``s:rank`` (1-based), ``s:gap`` (row's best score of s minus this
  score: comparable across users and across refits), ``s:proposed``; NaN where s did not propose;
- agreement: number of proposing sources, best rank, reciprocal-rank-fusion score;
- item: log popularity, days since its last / first interaction before the reference time (the
  newest timestamp in the fitted data), catalog year;
- user: log activity; genre share (mean and max share of the user's history in the item's genres)
  and cosine of genre profiles;
- optional item tags (a hook for layer-2 LLM enrichment): cosine of the user's tag profile with the
  item's tags;
- optional user genres stated by an LLM taste profile (known users only): share of the item's
  genres among them;
- optional item vectors: cosine to each of the user's last ``last_n`` items (mean, max) and to the
  mean vector of the whole history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recstrata.artifacts import load_arrays, save_arrays
from recstrata.data.dataset import Dataset
from recstrata.errors import ConfigError, DataError, NotFittedError
from recstrata.ranking.candidates import Candidates

DAY = 86400.0
RRF_K = 60.0  # the constant of Cormack et al.'s reciprocal rank fusion (SIGIR 2009)


@dataclass(frozen=True)
class UserSide:
    """What the features need to know about ``n`` users (one row per request)."""

    activity: np.ndarray  # (n,) number of history items
    genre_share: np.ndarray  # (n, G) fraction of the history in each genre
    genre_unit: np.ndarray  # (n, G) L2-normalised genre counts
    tag_unit: np.ndarray | None  # (n, T) L2-normalised tag profile
    stated_genres: np.ndarray | None  # (n, G) genres a taste profile names (NaN rows: no profile)
    last: np.ndarray  # (n, L) most recent items first, -1 padded
    profile: np.ndarray | None  # (n, d) unit mean item vector of the history


def _unit_rows(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return (m / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class FeatureBuilder:
    """Item and user statistics learned from a :class:`Dataset`, turned into pair features."""

    def __init__(self, last_n: int = 5) -> None:
        self.last_n = last_n

    # ---- fitting -----------------------------------------------------------------------------------
    def fit(
        self,
        dataset: Dataset,
        *,
        item_vectors: np.ndarray | None = None,
        item_tags: sp.spmatrix | np.ndarray | None = None,
        user_genres: sp.spmatrix | np.ndarray | None = None,
    ) -> FeatureBuilder:
        """Learn item statistics and known users' ordered histories from ``dataset``.

        ``user_genres``: (n_users, G) genres each user's taste profile names, columns as
        ``dataset.genre_matrix`` (see ``recstrata.enrichment.user_genre_matrix``); users without a
        profile have an all-zero row."""
        if self.last_n < 1:
            raise ConfigError(f"last_n must be >= 1, got {self.last_n}")
        n_items = dataset.n_items
        inter = dataset.interactions
        self.log_pop_ = np.log1p(dataset.item_counts).astype(np.float32)
        self.days_last_ = np.full(n_items, np.nan, np.float32)
        self.days_first_ = np.full(n_items, np.nan, np.float32)
        if inter.has_timestamps:
            ts = inter.timestamp.astype(np.float64)
            ref = ts.max()
            last = np.full(n_items, -np.inf)
            first = np.full(n_items, np.inf)
            np.maximum.at(last, inter.item, ts)
            np.minimum.at(first, inter.item, ts)
            seen = np.isfinite(last)
            self.days_last_[seen] = (ref - last[seen]) / DAY
            self.days_first_[seen] = (ref - first[seen]) / DAY
        years = dataset.items["year"] if "year" in dataset.items else None
        self.year_ = (np.full(n_items, np.nan, np.float32) if years is None
                      else np.asarray(years.astype("Float64").to_numpy(na_value=np.nan), np.float32))
        self.genres_ = np.asarray(dataset.genre_matrix[0].todense(), np.float32)  # (n_items, G)
        self.tags_ = None
        if item_tags is not None:
            tags = sp.csr_matrix(item_tags, dtype=np.float32)
            if tags.shape[0] != n_items:
                raise DataError(f"item_tags has {tags.shape[0]} rows; the dataset has {n_items} items")
            self.tags_ = tags
        self.user_genres_ = None
        if user_genres is not None:
            ug = np.asarray(sp.csr_matrix(user_genres, dtype=np.float32).todense(), np.float32)
            if ug.shape != (dataset.n_users, self.genres_.shape[1]):
                want = (dataset.n_users, self.genres_.shape[1])
                raise DataError(f"user_genres must be {want} (users x catalog genres), got {ug.shape}")
            self.user_genres_ = ug
        self.vectors_ = None
        if item_vectors is not None:
            vec = np.asarray(item_vectors, np.float32)
            if vec.ndim != 2 or vec.shape[0] != n_items:
                raise DataError(f"item_vectors must be ({n_items}, d), got {vec.shape}")
            self.vectors_ = _unit_rows(vec)
        seqs = dataset.histories()
        self.seq_indptr_ = np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)
        self.seq_items_ = np.concatenate(seqs).astype(np.int64) if seqs else np.zeros(0, np.int64)
        self.n_items_, self.n_users_ = n_items, dataset.n_users
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "log_pop_"):
            raise NotFittedError("FeatureBuilder is not fitted: call fit(dataset) or FeatureBuilder.load(...)")

    # ---- names -------------------------------------------------------------------------------------
    def feature_names(self, sources: Sequence[str]) -> list[str]:
        self._check_fitted()
        names = [f"{s}:{f}" for s in sources for f in ("score", "rank", "gap", "proposed")]
        names += ["n_sources", "best_rank", "rrf", "item_log_pop", "item_days_since_last",
                  "item_days_since_first", "item_year", "user_log_activity",
                  "genre_share_mean", "genre_share_max", "genre_cos"]
        if self.tags_ is not None:
            names.append("tag_cos")
        if self.user_genres_ is not None:
            names.append("stated_genre_share")
        if self.vectors_ is not None:
            names += ["vec_last_mean", "vec_last_max", "vec_profile"]
        return names

    # ---- users -------------------------------------------------------------------------------------
    def user_side(
        self,
        users: Sequence[int] | np.ndarray | None = None,
        *,
        histories: sp.csr_matrix | None = None,
        sequences: Sequence[np.ndarray] | None = None,
    ) -> UserSide:
        """Profiles of known ``users`` (from the fitted data) or of given histories.

        For histories give ``sequences`` (time-ordered item lists, oldest first) and/or the binary
        ``histories`` CSR; without an order the "last items" are the history's highest indices.
        """
        self._check_fitted()
        if users is not None:
            users = np.atleast_1d(np.asarray(users, np.int64))
            sequences = [self.seq_items_[self.seq_indptr_[u]:self.seq_indptr_[u + 1]] for u in users]
        elif sequences is None and histories is None:
            raise ConfigError("user_side needs users=, histories= or sequences=")
        if histories is None:
            from recstrata.retrieval.base import histories_to_csr

            histories = histories_to_csr(sequences, self.n_items_)
        if sequences is None:
            sequences = [histories.indices[histories.indptr[r]:histories.indptr[r + 1]]
                         for r in range(histories.shape[0])]
        n = histories.shape[0]
        h = sp.csr_matrix(histories, dtype=np.float32)
        h.data[:] = 1.0
        activity = np.diff(h.indptr).astype(np.float32)
        counts = np.asarray(h @ self.genres_, np.float32)  # (n, G)
        last = np.full((n, self.last_n), -1, np.int64)
        for r, seq in enumerate(sequences):  # per user, not per pair
            tail = np.asarray(seq, np.int64)[::-1][: self.last_n]
            last[r, : len(tail)] = tail
        return UserSide(
            activity=activity,
            genre_share=counts / np.maximum(activity, 1.0)[:, None],
            genre_unit=_unit_rows(counts),
            tag_unit=None if self.tags_ is None else _unit_rows(np.asarray((h @ self.tags_).todense())),
            stated_genres=self._stated_genres(users, n),
            last=last,
            profile=None if self.vectors_ is None else _unit_rows(np.asarray(h @ self.vectors_)),
        )

    # ---- pair features -----------------------------------------------------------------------------
    def transform(self, cands: Candidates, user: UserSide) -> np.ndarray:
        """(n * C, F) float32 features, row ``r * C + c`` for candidate column c of request r."""
        self._check_fitted()
        n, c = cands.shape
        if user.activity.shape[0] != n:
            raise ConfigError(f"{n} candidate rows but {user.activity.shape[0]} user profiles")
        items = np.where(cands.valid, cands.items, 0)  # padding gathers item 0; the ranker masks it
        cols: list[np.ndarray] = []
        with np.errstate(invalid="ignore"):
            for s in range(len(cands.sources)):
                sc = cands.scores[s]
                best = np.nanmax(np.where(np.isnan(sc), -np.inf, sc), axis=1, keepdims=True)
                cols += [sc, cands.ranks[s], best - sc, (~np.isnan(cands.ranks[s])).astype(np.float32)]
            ranks = cands.ranks
            cols.append((~np.isnan(ranks)).sum(0).astype(np.float32))
            cols.append(np.min(np.where(np.isnan(ranks), np.inf, ranks), axis=0))
            cols.append(np.nansum(1.0 / (RRF_K + ranks), axis=0))
        cols += [self.log_pop_[items], self.days_last_[items], self.days_first_[items], self.year_[items]]
        cols.append(np.broadcast_to(np.log1p(user.activity)[:, None], (n, c)))
        g = self.genres_[items]  # (n, C, G)
        n_genres = g.sum(2)
        share = g * user.genre_share[:, None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            cols.append(np.where(n_genres > 0, share.sum(2) / n_genres, np.nan))
        cols.append(np.where(n_genres > 0, share.max(2, initial=0.0), np.nan))
        g_unit = g / np.sqrt(np.maximum(n_genres, 1.0))[..., None]
        cols.append(np.einsum("ncg,ng->nc", g_unit, user.genre_unit))
        if self.tags_ is not None:
            cols.append(self._tag_cos(items, user))
        if self.user_genres_ is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                stated = np.einsum("ncg,ng->nc", g, user.stated_genres)  # (n, C) stated genres of the item
                cols.append(np.where(n_genres > 0, stated / n_genres, np.nan))
        if self.vectors_ is not None:
            cols += self._vector_sims(items, user)
        out = np.empty((n, c, len(cols)), np.float32)
        for j, col in enumerate(cols):
            out[:, :, j] = col
        return out.reshape(n * c, len(cols))

    def _stated_genres(self, users: np.ndarray | None, n: int) -> np.ndarray | None:
        """Rows of ``user_genres_`` for known users; NaN for histories and users without a profile."""
        if self.user_genres_ is None:
            return None
        out = np.full((n, self.user_genres_.shape[1]), np.nan, np.float32)
        if users is not None:
            rows = self.user_genres_[users]  # (n, G)
            has = rows.any(1)
            out[has] = rows[has]
        return out

    def _tag_cos(self, items: np.ndarray, user: UserSide) -> np.ndarray:
        n, c = items.shape
        rows = self.tags_[items.ravel()]  # (n*C, T) sparse
        norms = np.sqrt(np.asarray(rows.multiply(rows).sum(1)).ravel())
        nnz_row = np.repeat(np.arange(n * c), np.diff(rows.indptr))
        vals = rows.data * user.tag_unit[nnz_row // c, rows.indices]
        dot = np.bincount(nnz_row, weights=vals, minlength=n * c)
        return (dot / np.where(norms > 0, norms, 1.0)).reshape(n, c)

    def _vector_sims(self, items: np.ndarray, user: UserSide) -> list[np.ndarray]:
        v = self.vectors_[items]  # (n, C, d)
        has_last = user.last >= 0  # (n, L)
        lv = self.vectors_[np.where(has_last, user.last, 0)]  # (n, L, d)
        sims = np.einsum("ncd,nld->ncl", v, lv)  # (n, C, L)
        cnt = has_last.sum(1)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(cnt > 0, (sims * has_last[:, None, :]).sum(2) / cnt, np.nan)
        mx = np.where(cnt > 0, np.where(has_last[:, None, :], sims, -np.inf).max(2), np.nan)
        prof = np.einsum("ncd,nd->nc", v, user.profile)
        return [mean, mx, np.where(user.activity[:, None] > 0, prof, np.nan)]

    # ---- persistence ---------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the fitted statistics to one ``.npz`` (no pickle)."""
        self._check_fitted()
        arrays = dict(log_pop=self.log_pop_, days_last=self.days_last_, days_first=self.days_first_,
                      year=self.year_, genres=self.genres_, seq_indptr=self.seq_indptr_,
                      seq_items=self.seq_items_, sizes=np.array([self.n_items_, self.n_users_, self.last_n]))
        if self.vectors_ is not None:
            arrays["vectors"] = self.vectors_
        if self.user_genres_ is not None:
            arrays["user_genres"] = self.user_genres_
        if self.tags_ is not None:
            t = self.tags_
            arrays |= dict(tags_data=t.data, tags_indices=t.indices, tags_indptr=t.indptr,
                           tags_shape=np.array(t.shape))
        save_arrays(path, **arrays)

    @classmethod
    def load(cls, path) -> FeatureBuilder:
        a = load_arrays(path)
        n_items, n_users, last_n = (int(x) for x in a["sizes"])
        fb = cls(last_n=last_n)
        fb.log_pop_, fb.days_last_, fb.days_first_ = a["log_pop"], a["days_last"], a["days_first"]
        fb.year_, fb.genres_ = a["year"], a["genres"]
        fb.seq_indptr_, fb.seq_items_ = a["seq_indptr"], a["seq_items"]
        fb.n_items_, fb.n_users_ = n_items, n_users
        fb.vectors_ = a.get("vectors")
        fb.user_genres_ = a.get("user_genres")
        fb.tags_ = None
        if "tags_data" in a:
            fb.tags_ = sp.csr_matrix((a["tags_data"], a["tags_indices"], a["tags_indptr"]),
                                     shape=tuple(a["tags_shape"]))
        return fb
