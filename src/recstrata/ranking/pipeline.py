"""The layer-1 request path: retrieve from several sources -> merge -> features -> rank -> top-k.

    pipe = Pipeline({"ease": EASE(500), "als": ALS(...)}, n_per_source=300,
                    ranker=LambdaRanker(), vector_source="als")
    pipe.fit(split.train)                 # fits every source + the feature statistics
    pipe.fit_ranker(split.valid)          # LambdaRank on validation-period labels
    ids, scores = pipe.recommend([3, 7], k=10)          # same signature as a Recommender
    out = pipe.recommend_explained(histories=[[1, 5]], k=10)   # + which sources proposed each item

A source is anything with ``recommend(users | histories=, k, exclude_seen=, exclude=, candidates=)``
(and ``save(dir)`` / ``load(dir)`` to be persisted). Filters are passed down into every source,
so an allow-list or an exclusion never shrinks a list after truncation. Without a trained
ranker, candidates are ordered by weighted reciprocal rank fusion (Cormack et al., SIGIR 2009).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recstrata._atomic import atomic_directory
from recstrata._ops import topk_rows
from recstrata.artifacts import read_manifest, write_manifest
from recstrata.data.dataset import Dataset
from recstrata.evaluation.metrics import accuracy
from recstrata.errors import ArtifactError, ConfigError, DataError, NotFittedError
from recstrata.ranking.candidates import Candidates, concat_candidates, merge_candidates
from recstrata.ranking.features import FeatureBuilder
from recstrata.ranking.folds import RankingData
from recstrata.ranking.fusion import FUSION_KS, FUSION_WEIGHTS, check_folds, fusion_settings, rrf_scores, tune_fusion
from recstrata.ranking.ranker import LambdaRanker
from recstrata.retrieval._params import is_int, is_number
from recstrata.retrieval.base import histories_to_csr


@dataclass(frozen=True)
class Explained:
    """Ranked ids with provenance: which sources proposed each returned item, at what rank."""

    ids: np.ndarray  # (n, k) int64, -1 = padding
    scores: np.ndarray  # (n, k) float32 ranker (or fusion) scores, -inf = padding
    sources: tuple[str, ...]
    proposed: np.ndarray  # (n, k, S) bool
    source_ranks: np.ndarray  # (n, k, S) float32, 1-based, NaN where the source did not propose it

    def sources_of(self, row: int, col: int) -> list[str]:
        return [s for s, p in zip(self.sources, self.proposed[row, col]) if p]


class Pipeline:
    """Blended retrieve -> merge -> rank; satisfies the ``recommend`` contract of a Recommender."""

    #: users per internal batch: bounds the (users x candidates x features) block in memory
    batch_users = 128

    def __init__(
        self,
        sources: Mapping[str, Any],
        n_per_source: int | Mapping[str, int] = 300,
        ranker: LambdaRanker | None = None,
        fusion_weights: Mapping[str, float] | None = None,
        fusion_k: float = 60.0,
        vector_source: str | None = None,
        last_n: int = 5,
    ) -> None:
        self.sources = dict(sources)
        self.n_per_source = n_per_source
        self.ranker = ranker
        self.fusion_weights = fusion_weights
        self.fusion_k = fusion_k
        self.vector_source = vector_source
        self.last_n = last_n

    def __repr__(self) -> str:
        return (f"Pipeline(sources={list(self.sources)}, n_per_source={self.n_per_source!r}, "
                f"ranker={'trained' if getattr(self, 'ranker_', None) else self.ranker!r})")

    # ---- fitting ---------------------------------------------------------------------------------------
    def fit(self, dataset: Dataset, *, item_tags: sp.spmatrix | None = None,
            user_genres: sp.spmatrix | None = None, fit_sources: bool = True) -> Pipeline:
        """Fit every source on ``dataset`` (skip with ``fit_sources=False`` for pre-fitted sources)
        and learn the feature statistics (``item_tags`` / ``user_genres``: optional LLM-enrichment
        features, see :class:`FeatureBuilder`). Any trained ranker is dropped: train it with
        :meth:`fit_ranker`."""
        self._fit_sources(dataset, item_tags, user_genres, fit_sources)
        self.ranker_ = None
        return self

    def refit_sources(self, dataset: Dataset, *, item_tags: sp.spmatrix | None = None,
                      user_genres: sp.spmatrix | None = None) -> Pipeline:
        """Refit sources and feature statistics on new data (e.g. train + valid) and KEEP the ranker."""
        self._fit_sources(dataset, item_tags, user_genres, True)
        return self

    def _fit_sources(self, dataset: Dataset, item_tags, user_genres, fit_sources: bool) -> None:
        if not self.sources:
            raise ConfigError("a Pipeline needs at least one source")
        self._check_params()
        for name, src in self.sources.items():
            if fit_sources:
                src.fit(dataset)
            elif not getattr(src, "is_fitted", True):
                raise NotFittedError(f"source {name!r} is not fitted; pass fit_sources=True")
        vectors = None
        if self.vector_source is not None:
            vectors = self.sources[self.vector_source].item_vectors()
            if vectors is None:
                raise ConfigError(f"vector_source {self.vector_source!r} has no item vectors")
        self.features_ = FeatureBuilder(last_n=self.last_n).fit(
            dataset, item_vectors=vectors, item_tags=item_tags, user_genres=user_genres
        )
        self.n_items_, self.n_users_ = dataset.n_items, dataset.n_users
        self.catalog_ = dataset.catalog_fingerprint

    def _check_params(self) -> None:
        if self.vector_source is not None and self.vector_source not in self.sources:
            raise ConfigError(f"vector_source {self.vector_source!r} is not one of the sources {list(self.sources)}")
        for name in self.sources:
            if ":" in name or "/" in name or not name:
                raise ConfigError(f"source name {name!r} must be non-empty and contain no ':' or '/'")
        for name, n in self._n_per_source().items():
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
                raise ConfigError(f"n_per_source for {name!r} must be a positive integer, got {n!r}")
        weights = dict(self.fusion_weights or {})
        if set(weights) - set(self.sources):
            raise ConfigError(f"fusion_weights names source(s) {sorted(set(weights) - set(self.sources))} that are "
                              f"not among the sources {list(self.sources)}")
        if not all(is_number(w) and w >= 0 for w in weights.values()) or not is_number(self.fusion_k) \
                or self.fusion_k < 0:
            raise ConfigError(f"fusion weights and fusion_k must be numbers >= 0 (0 = ignore a source), "
                              f"got {weights} and {self.fusion_k!r}")

    def _n_per_source(self) -> dict[str, int]:
        if isinstance(self.n_per_source, Mapping):
            missing = set(self.sources) - set(self.n_per_source)
            if missing:
                raise ConfigError(f"n_per_source has no entry for source(s) {sorted(missing)}")
            return {s: self.n_per_source[s] for s in self.sources}
        return {s: self.n_per_source for s in self.sources}

    def fit_ranker(self, labels: Dataset, *, folds: int | None = None, holdout: float = 0.2, seed: int = 2020,
                   exclude: sp.spmatrix | None = None) -> Pipeline:
        """Train the ranker on ``labels`` (a later period than the fitted data, e.g. validation).

        For every user with labels: candidates from the sources (their fitted history excluded,
        plus ``exclude``), label 1 for candidates among the user's ``labels`` items.

        - ``folds=None``: users are split at random into a ranker-train part and a ``holdout`` part
          for early stopping (kept in ``ranker_holdout_users_``).
        - ``folds=K``: K-fold cross-fitting over users; fold f's model trains on the other folds
          minus a random ``holdout`` share of their users, early-stops on that share, and scores
          f's users out of fold. (Early-stopping on f itself would pick the tree count on the very
          users it then scores: an optimistic out-of-fold figure.) The final model is trained on
          every user for the mean best iteration count.

        ``ranker_valid_ranked_`` holds the top-10 of the held-out (or out-of-fold) users
        ``ranker_valid_users_``; ``ranker_valid_ndcg_`` is their NDCG@10 over all their ``labels``
        items, as :func:`recstrata.evaluation.evaluate` defines it.
        """
        self._check_fitted()
        if self.ranker is None:
            raise ConfigError("this Pipeline has no ranker configured: pass ranker=LambdaRanker(...)")
        if not 0 < holdout < 1:
            raise ConfigError(f"holdout must be in (0, 1), got {holdout}")
        if folds is not None and (folds < 2 or isinstance(folds, bool)):
            raise ConfigError(f"folds must be an integer >= 2 (or None for a single holdout), got {folds!r}")
        truth = labels.user_items
        groups = self._labelled_groups(truth, exclude)
        usable = np.array([g[1].any() for g in groups])
        if usable.sum() < 2:
            raise DataError("fewer than 2 users have a labelled item among their candidates: cannot train the ranker")
        rng = np.random.default_rng(seed)
        names = self.feature_names()
        if folds is None:
            fold = (rng.random(len(groups)) < holdout).astype(np.int64)  # 1 = holdout
            if not (usable & (fold == 1)).any() or not (usable & (fold == 0)).any():
                fold[:] = 0
                fold[np.flatnonzero(usable)[0]] = 1
            ranker = self._train(groups, usable & (fold == 0), usable & (fold == 1), names)
            held = fold == 1
            valid_users, valid_ranked = _top_k(groups, held, ranker)
            self.ranker_holdout_users_ = np.array([g[3] for g in groups], np.int64)[held]
            self.ranker_train_users_ = np.array([g[3] for g in groups], np.int64)[~held]
        else:
            fold = rng.permutation(len(groups)) % folds
            stop = rng.random(len(groups)) < holdout  # inside the training folds: early stopping
            iters, parts = [], []
            for f in range(folds):
                model = self._train(groups, usable & (fold != f) & ~stop, usable & (fold != f) & stop, names)
                iters.append(model.best_iteration_)
                parts.append(_top_k(groups, fold == f, model))
            valid_users = np.concatenate([p[0] for p in parts])
            valid_ranked = np.concatenate([p[1] for p in parts])
            params = self.ranker.get_params() | {"n_estimators": max(1, int(round(np.mean(iters))))}
            ranker = type(self.ranker)(**params)
            x, y, g = _stack(groups, usable)
            ranker.fit(x, y, g, feature_names=names)
            self.ranker_fold_iterations_ = iters
            self.ranker_holdout_users_ = np.array([g[3] for g in groups], np.int64)
            self.ranker_train_users_ = self.ranker_holdout_users_
        self.ranker_ = ranker
        self.ranker_valid_users_, self.ranker_valid_ranked_ = valid_users, valid_ranked
        self.ranker_valid_ndcg_ = float(accuracy(valid_ranked, truth[valid_users], [10], ["ndcg"])[0]["ndcg@10"].mean())
        return self

    def ranking_data(self, labels: Dataset, *, exclude: sp.spmatrix | None = None) -> RankingData:
        """Candidates, features and 0/1 labels (1 = among the user's ``labels`` items) of every
        labelled user, one group per user: training or early-stopping data for :meth:`fit_ranker_on`."""
        self._check_fitted()
        groups = [g for g in self._labelled_groups(labels.user_items, exclude) if len(g[1])]  # no candidate: no group
        if not groups:
            raise DataError(f"no user of {labels.name!r} has an interaction and a candidate: nothing to label")
        return RankingData(np.concatenate([g[0] for g in groups]), np.concatenate([g[1] for g in groups]),
                           np.array([len(g[1]) for g in groups], np.int64), np.array([g[3] for g in groups], np.int64),
                           np.concatenate([g[2] for g in groups]), tuple(self.feature_names()))

    def fit_ranker_on(self, data: RankingData, *, valid: RankingData | None = None,
                      n_estimators: int | None = None) -> Pipeline:
        """Train the ranker on prepared ``data`` (e.g. :func:`recstrata.ranking.folds.fold_ranking_data`);
        ``valid`` early-stops it; ``n_estimators`` overrides the configured tree count (e.g. a
        count chosen by early stopping, when retraining on more data without a stopping set).
        Groups without a relevant row are dropped (LambdaRank learns nothing from them)."""
        self._check_fitted()
        if self.ranker is None:
            raise ConfigError("this Pipeline has no ranker configured: pass ranker=LambdaRanker(...)")
        names = self.feature_names()
        for part in (data, valid):
            if part is not None and list(part.feature_names) != names:
                raise ConfigError("the ranking data was built with other features than this pipeline's "
                                  f"({len(part.feature_names)} vs {len(names)}): use the same sources and options")
        train = data.take(data.group_has_positive())
        if train.n_groups < 1:
            raise DataError("no group of the ranking data has a relevant candidate: cannot train the ranker")
        params = self.ranker.get_params() | ({} if n_estimators is None else {"n_estimators": int(n_estimators)})
        stop = None
        if valid is not None:
            v = valid.take(valid.group_has_positive())
            stop = (v.x, v.y, v.groups) if v.n_groups else None
        self.ranker_ = type(self.ranker)(**params).fit(train.x, train.y, train.groups, valid=stop, feature_names=names)
        # figures of an earlier fit_ranker describe a ranker that is gone
        for attr in ("ranker_valid_users_", "ranker_valid_ranked_", "ranker_valid_ndcg_", "ranker_holdout_users_",
                     "ranker_train_users_", "ranker_fold_iterations_"):
            self.__dict__.pop(attr, None)
        return self

    def fit_fusion(self, labels: Dataset, *, weights: Sequence[float] = FUSION_WEIGHTS,
                   ks: Sequence[float] = FUSION_KS, folds: int | None = 5, max_users: int | None = 10_000,
                   seed: int = 2020, exclude: sp.spmatrix | None = None) -> Pipeline:
        """Choose the rank-fusion weight of every source and the fusion ``k`` on ``labels`` (a later
        period than the fitted data, e.g. validation): the no-ranker counterpart of :meth:`fit_ranker`.

        Candidates of every labelled user (their fitted history excluded, plus ``exclude``) are
        ordered under each setting of the grid (``weights`` per source, 0 = ignore the source;
        ``ks``), and the setting with the highest mean NDCG@10 over all the user's ``labels`` items
        is kept in ``fusion_weights`` / ``fusion_k``. A trained ranker is dropped (fusion then orders
        the candidates). ``fusion_report_`` (:class:`~recstrata.ranking.fusion.FusionChoice`) keeps
        the choice, its in-sample NDCG@10 (optimistic: the best of many) and, with ``folds=K``, the
        out-of-fold NDCG@10 — the figure to compare with candidates that were not tuned on these
        labels. At most ``max_users`` labelled users (a seeded sample) are used. A source weighted 0
        is not queried at request time (:meth:`unqueried_sources`) but stays fitted and saved.
        """
        self._check_fitted()
        fusion_settings(tuple(self.sources), weights, ks)  # a bad grid fails before any retrieval
        check_folds(folds)
        if max_users is not None and (not is_int(max_users) or max_users < 1):
            raise ConfigError(f"max_users must be a positive integer (or None for every labelled user), got {max_users!r}")
        truth = labels.user_items.tocsr()
        users = np.flatnonzero(np.diff(truth.indptr) > 0)
        if not len(users):
            raise DataError(f"{labels.name!r} has no interaction: nothing to choose fusion weights on")
        if max_users is not None and len(users) > max_users:
            users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
        parts = [self.retrieve(users=users[s : s + self.batch_users], exclude_seen=True,
                               exclude=None if exclude is None else exclude[users[s : s + self.batch_users]])
                 for s in range(0, len(users), self.batch_users)]
        choice = tune_fusion(concat_candidates(parts), truth[users], weights=weights, ks=ks, folds=folds, seed=seed)
        self.fusion_weights, self.fusion_k, self.fusion_report_ = choice.weights, choice.k, choice
        self.fusion_users_ = users[choice.rows]  # the labelled users of the report's per-user figures
        self.ranker_ = None
        return self

    def _labelled_groups(self, truth: sp.csr_matrix, exclude) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
        """Per labelled user: (features (C, F), labels (C,), candidate items (C,), user)."""
        users = np.flatnonzero(np.diff(truth.indptr) > 0)
        groups = []
        for s in range(0, len(users), self.batch_users):
            batch = users[s : s + self.batch_users]
            excl = None if exclude is None else exclude[batch]
            cands, x = self._features(users=batch, exclude_seen=True, exclude=excl, need_x=True)
            n, c = cands.shape
            rows = np.repeat(batch, c)
            y = np.asarray(truth[rows, np.where(cands.valid, cands.items, 0).ravel()]).ravel() > 0
            y = (y & cands.valid.ravel()).reshape(n, c)
            x = x.reshape(n, c, -1)
            for r in range(n):  # per user, not per pair
                v = cands.valid[r]
                groups.append((x[r, v], y[r, v].astype(np.float32), cands.items[r, v], int(batch[r])))
        return groups

    def _train(self, groups, train: np.ndarray, stop: np.ndarray, names: list[str]) -> LambdaRanker:
        ranker = type(self.ranker)(**self.ranker.get_params())
        return ranker.fit(*_stack(groups, train), valid=_stack(groups, stop) if stop.any() else None,
                          feature_names=names)

    # ---- request path ------------------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "features_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError("Pipeline is not fitted: call fit(dataset) or Pipeline.load(dir)")

    def feature_names(self) -> list[str]:
        self._check_fitted()
        return self.features_.feature_names(tuple(self.sources))

    def retrieve(self, users=None, *, histories=None, exclude_seen=True, exclude=None,
                 candidates=None, skip: Collection[str] = (), fill: int = 0) -> Candidates:
        """Top-N from every source with the filters applied inside each source, merged with provenance.

        Sources named in ``skip`` are queried only for the rows to which the other sources propose
        fewer than ``fill`` candidates (by default for none); elsewhere their provenance stays empty."""
        self._check_fitted()
        unknown = set(skip) - set(self.sources)
        if unknown:
            raise ConfigError(f"skip names source(s) {sorted(unknown)} that this pipeline does not have")
        per_source = self._n_per_source()
        n_rows = _n_rows(users, histories)

        def ask(name: str, rows=None) -> tuple[np.ndarray, np.ndarray]:
            who = ({"users": users} if histories is None else {"histories": histories}) if rows is None else \
                ({"users": np.asarray(users)[rows]} if histories is None else {"histories": _take_rows(histories, rows)})
            excl = exclude if rows is None or exclude is None else exclude[rows]
            return self.sources[name].recommend(k=min(int(per_source[name]), self.n_items_), exclude_seen=exclude_seen,
                                                exclude=excl, candidates=candidates, **who)

        none = (np.zeros((n_rows, 0), np.int64), np.zeros((n_rows, 0), np.float32))
        results = {name: none if name in skip else ask(name) for name in self.sources}
        merged = merge_candidates(tuple(self.sources), list(results.values()), self.n_items_)
        short = np.flatnonzero(merged.valid.sum(axis=1) < fill) if skip else np.zeros(0, np.int64)
        if not len(short):
            return merged
        for name in skip:  # only the short rows ask the skipped sources; the other rows keep no answer
            ids, scores = ask(name, short)
            full_ids = np.full((n_rows, ids.shape[1]), -1, np.int64)
            full_scores = np.full((n_rows, ids.shape[1]), -np.inf, np.float32)
            full_ids[short], full_scores[short] = ids, scores
            results[name] = full_ids, full_scores
        return merge_candidates(tuple(self.sources), list(results.values()), self.n_items_)

    def source_weights(self) -> dict[str, float]:
        """Each source's weight in the ordering in effect: its fusion weight (1 when not given) when
        fusion orders the candidates; 1 for every source when a trained ranker does (it reads them all)."""
        given = {} if getattr(self, "ranker_", None) is not None else (self.fusion_weights or {})
        return {s: float(given.get(s, 1.0)) for s in self.sources}

    def unqueried_sources(self) -> tuple[str, ...]:
        """Sources a request need not query: without a trained ranker, those of fusion weight 0 (they
        add nothing to any candidate's score, and every other candidate scores above 0). They stay
        fitted — for :meth:`similar_items`, the features and a later :meth:`fit_fusion` — and are
        queried after all for a request whose weighted sources propose fewer than ``k``
        candidates, so ids and scores never change; the provenance of an answer lists the
        sources that were asked for it."""
        weights = self.source_weights()
        zero = tuple(s for s, w in weights.items() if w == 0)
        # a negative weight or k, or a weight too small for float32, could rank a candidate at or
        # below the 0 a skipped source's items would score: then every source is asked
        if self.fusion_k < 0 or any(np.float32(w) <= 0 for w in weights.values() if w != 0):
            return ()
        return zero if len(zero) < len(self.sources) else ()

    def _features(self, users=None, *, histories=None, need_x: bool | None = None,
                  **filters) -> tuple[Candidates, np.ndarray | None]:
        """Merged candidates and, when a ranker will score them, their (n * C, F) features."""
        cands = self.retrieve(users, histories=histories, **filters)
        if need_x is None:
            need_x = getattr(self, "ranker_", None) is not None
        if not need_x:
            return cands, None
        if histories is None:
            side = self.features_.user_side(users=users)
        elif sp.issparse(histories):
            side = self.features_.user_side(histories=histories_to_csr(histories, self.n_items_))
        else:
            side = self.features_.user_side(sequences=[np.asarray(h, np.int64).ravel() for h in histories])
        return cands, self.features_.transform(cands, side)

    def _rank(self, cands: Candidates, x: np.ndarray | None) -> np.ndarray:
        """(n, C) scores, -inf at padding."""
        n, c = cands.shape
        if x is not None:
            scores = self.ranker_.predict(x).reshape(n, c).astype(np.float32)
        else:
            given = self.source_weights()
            weights = [given[s] for s in cands.sources]
            scores = rrf_scores(cands.ranks, weights, self.fusion_k)
        scores[~cands.valid] = -np.inf
        return scores

    def recommend_explained(
        self,
        users: Sequence[int] | np.ndarray | int | None = None,
        k: int = 10,
        *,
        histories=None,
        exclude_seen: bool = True,
        exclude: sp.spmatrix | None = None,
        candidates: Sequence[int] | np.ndarray | None = None,
    ) -> Explained:
        """Like :meth:`recommend`, plus per returned item which sources proposed it and at what rank."""
        self._check_fitted()
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0 or k > self.n_items_:
            raise ConfigError(f"k must be a positive integer of at most {self.n_items_} (the catalog), got {k!r}")
        if (users is None) == (histories is None):
            raise ConfigError("pass exactly one of users= or histories=")
        if users is not None:
            users = np.atleast_1d(np.asarray(users, np.int64))
        n = _n_rows(users, histories)
        skip = self.unqueried_sources()
        parts = []
        for s in range(0, n, self.batch_users):
            sl = slice(s, min(n, s + self.batch_users))
            who = {"users": users[sl]} if users is not None else {"histories": histories[sl]}
            cands, x = self._features(**who, exclude_seen=exclude_seen, exclude=None if exclude is None else exclude[sl],
                                      candidates=candidates, skip=skip, fill=k)  # weight 0: asked to fill only
            cols, top = topk_rows(self._rank(cands, x), k)
            ok = cols >= 0
            safe = np.where(ok, cols, 0)
            ids = np.where(ok, np.take_along_axis(cands.items, safe, 1), -1)
            ranks = np.stack([np.take_along_axis(cands.ranks[j], safe, 1) for j in range(len(cands.sources))], -1)
            ranks[~ok] = np.nan
            parts.append((ids, top, ranks))
        if not parts:
            empty = np.zeros((0, k, len(self.sources)), np.float32)
            return Explained(np.zeros((0, k), np.int64), np.zeros((0, k), np.float32), tuple(self.sources),
                             empty.astype(bool), empty)
        ranks = np.concatenate([p[2] for p in parts])
        return Explained(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                         tuple(self.sources), ~np.isnan(ranks), ranks)

    def recommend(self, users=None, k: int = 10, *, histories=None, exclude_seen: bool = True,
                  exclude: sp.spmatrix | None = None, candidates=None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(ids, scores)`` per user, best first; the Recommender signature and padding rules."""
        out = self.recommend_explained(users, k, histories=histories, exclude_seen=exclude_seen,
                                       exclude=exclude, candidates=candidates)
        return out.ids, out.scores

    def similar_items(self, items, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Items like the given ones, from the ``vector_source`` (else the first source that can answer)."""
        ids, scores, _ = self.similar_items_explained(items, k)
        return ids, scores

    def similar_items_explained(self, items, k: int = 10) -> tuple[np.ndarray, np.ndarray, str]:
        """:meth:`similar_items` and the name of the source that answered (its provenance)."""
        self._check_fitted()
        order = ([self.vector_source] if self.vector_source else []) + [n for n in self.sources if n != self.vector_source]
        for name in order:
            similar = getattr(self.sources[name], "similar_items", None)
            if similar is not None:
                try:
                    ids, scores = similar(items, k=k)
                except NotImplementedError:
                    continue
                return ids, scores, name
        raise ConfigError(f"no source of this pipeline ({list(self.sources)}) answers similar_items")

    # ---- persistence -----------------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Every source in ``sources/<name>/`` (its own save), ``ranker/``, features.npz, manifest."""
        self._check_fitted()
        with atomic_directory(directory) as tmp:
            classes = {}
            for name, src in self.sources.items():
                src.save(tmp / "sources" / name)
                classes[name] = f"{type(src).__module__}:{type(src).__qualname__}"
            if self.ranker_ is not None:
                self.ranker_.save(tmp / "ranker")
            self.features_.save(tmp / "features.npz")
            params = {"n_per_source": self.n_per_source, "fusion_weights": self.fusion_weights,
                      "fusion_k": self.fusion_k, "vector_source": self.vector_source, "last_n": self.last_n,
                      "ranker": None if self.ranker is None else self.ranker.get_params()}
            write_manifest(tmp, kind="pipeline", params=json.loads(json.dumps(params, default=_jsonable)),
                           extra={"sources": classes, "source_order": list(self.sources),
                                  "trained_ranker": self.ranker_ is not None,
                                  "catalog": getattr(self, "catalog_", None)})
        return Path(directory)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Pipeline:
        root = Path(directory)
        manifest = read_manifest(root, kind="pipeline")
        p = dict(manifest["params"])
        ranker_params = p.pop("ranker")
        ranker = LambdaRanker.load(root / "ranker") if manifest["trained_ranker"] else None
        # the manifest's mapping comes back sorted by name; the ranker's feature columns follow the
        # sources' order, kept as a list (artefacts written before: read off the feature names)
        order = manifest.get("source_order") or _order_from(ranker, manifest["sources"])
        sources = {name: _load_source(manifest["sources"][name], root / "sources" / name) for name in order}
        pipe = cls(sources, ranker=None if ranker_params is None else LambdaRanker(**ranker_params), **p)
        pipe.features_ = FeatureBuilder.load(root / "features.npz")
        pipe.n_items_, pipe.n_users_ = pipe.features_.n_items_, pipe.features_.n_users_
        pipe.catalog_ = manifest.get("catalog")  # None: saved before fingerprints
        pipe.ranker_ = ranker
        if ranker is not None and pipe.feature_names() != ranker.feature_names_:
            raise ArtifactError(f"{root}: the ranker was trained on features {ranker.feature_names_} but the "
                                f"pipeline builds {pipe.feature_names()}; retrain and publish it again")
        return pipe


def _n_rows(users, histories) -> int:
    if histories is None:
        return len(np.atleast_1d(users))
    return histories.shape[0] if sp.issparse(histories) else len(histories)


def _take_rows(histories, rows: np.ndarray):
    """Rows ``rows`` of histories given as a sparse matrix or as a sequence of item lists."""
    return histories[rows] if sp.issparse(histories) else [histories[int(r)] for r in rows]


def _stack(groups, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx = np.flatnonzero(mask)
    return (np.concatenate([groups[i][0] for i in idx]), np.concatenate([groups[i][1] for i in idx]),
            np.array([len(groups[i][1]) for i in idx]))


def _top_k(groups, mask: np.ndarray, ranker: LambdaRanker, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(users, ranked (n, k) item indices, -1 padded) of the ranker's top-k for the masked groups."""
    idx = np.flatnonzero(mask)
    ranked = np.full((len(idx), k), -1, np.int64)
    for j, i in enumerate(idx):
        x, _, items, _ = groups[i]
        top = np.argsort(-ranker.predict(x), kind="stable")[:k]
        ranked[j, : len(top)] = items[top]
    return np.array([groups[i][3] for i in idx], np.int64), ranked


def _order_from(ranker: LambdaRanker | None, sources: Mapping[str, str]) -> list[str]:
    """The sources' order of an artefact saved without ``source_order``: the order of their columns
    in the ranker's feature names (``name:score`` first per source), else the manifest's."""
    if ranker is None:
        return list(sources)
    named = [f.split(":", 1)[0] for f in ranker.feature_names_ if f.endswith(":score")]
    return named if sorted(named) == sorted(sources) else list(sources)


def _load_source(target: str, directory: Path) -> Any:
    """Import a source class named in a manifest (recstrata's own modules only) and load it."""
    module, _, qual = target.partition(":")
    if not module.startswith("recstrata."):
        raise ArtifactError(f"{directory}: source class {target!r} is outside recstrata; refusing to import it")
    obj: Any = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj.load(directory)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a pipeline manifest")
