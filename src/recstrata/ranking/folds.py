"""Ranker training data made from the fitted data itself, so the ranker need not live on the few
validation labels alone.

    fit_part, held = holdout_split(split.train, fraction=1 / 9, seed=0)
    data = fold_ranking_data(make_pipeline, split.train, folds=4)     # several such holdouts
    pipe = make_pipeline().fit(split.train)
    pipe.fit_ranker_on(data, valid=pipe.ranking_data(split.valid))    # validation early-stops

A random per-user split (RecBole's "RO" general split) draws validation and test items the same
way as training items, so hiding a random ``fraction`` of each user's training items, fitting the
sources on the rest and labelling the hidden part yields (candidates, features, labels) groups
distributed like the validation / test ones. ``fraction = 1/9`` reproduces the 10 : 80 ratio of
validation to training items of an 80/10/10 split. This is the classic "stacking" recipe: the
ranker only ever sees source scores for items the sources were not fitted on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from recstrata.data.dataset import Dataset
from recstrata.errors import ConfigError

if TYPE_CHECKING:
    from recstrata.ranking.pipeline import Pipeline


@dataclass(frozen=True)
class RankingData:
    """Grouped ranker rows: one group = one user's candidates, rows of a group contiguous."""

    x: np.ndarray  # (rows, F) float32 features
    y: np.ndarray  # (rows,) float32 relevance (1 = a held-out / later item of the user)
    groups: np.ndarray  # (n_groups,) int64 rows per group, in order
    users: np.ndarray  # (n_groups,) int64 user of each group
    items: np.ndarray  # (rows,) int64 candidate item of each row
    feature_names: tuple[str, ...]

    def __post_init__(self) -> None:
        rows = self.x.shape[0]
        if len(self.y) != rows or len(self.items) != rows or int(self.groups.sum()) != rows:
            raise ConfigError(f"RankingData: x has {rows} rows, y {len(self.y)}, items {len(self.items)}, "
                              f"groups sum to {int(self.groups.sum())}: they must agree")
        if len(self.users) != len(self.groups) or self.x.shape[1] != len(self.feature_names):
            raise ConfigError("RankingData: one user per group and one name per feature column are required")

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    def group_has_positive(self) -> np.ndarray:
        """(n_groups,) bool: the group holds at least one relevant row (others teach LambdaRank nothing)."""
        owner = np.repeat(np.arange(self.n_groups), self.groups)  # group of each row; empty groups own none
        return np.bincount(owner, weights=(self.y > 0), minlength=self.n_groups) > 0

    def take(self, mask: np.ndarray) -> RankingData:
        """The groups selected by a boolean ``mask`` over groups."""
        mask = np.asarray(mask, bool)
        if mask.shape != (self.n_groups,):
            raise ConfigError(f"take needs a boolean mask over the {self.n_groups} groups, got shape {mask.shape}")
        rows = np.repeat(mask, self.groups)
        return RankingData(self.x[rows], self.y[rows], self.groups[mask], self.users[mask], self.items[rows],
                           self.feature_names)

    @staticmethod
    def concat(parts: Sequence[RankingData]) -> RankingData:
        if not parts:
            raise ConfigError("RankingData.concat needs at least one part")
        names = parts[0].feature_names
        if any(p.feature_names != names for p in parts):
            raise ConfigError("RankingData parts have different features: build them with the same pipeline setup")
        cat = lambda attr: np.concatenate([getattr(p, attr) for p in parts])  # noqa: E731
        return RankingData(cat("x"), cat("y"), cat("groups"), cat("users"), cat("items"), names)


def holdout_split(dataset: Dataset, fraction: float = 1 / 9, seed: int = 0) -> tuple[Dataset, Dataset]:
    """(kept, held out): a random ``round(fraction * n_u)`` of each user's interactions held out,
    at least one kept per user."""
    if not 0 < fraction < 1:
        raise ConfigError(f"fraction must be in (0, 1), got {fraction}")
    inter = dataset.interactions
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(inter)), inter.user))  # grouped by user, shuffled within
    counts = np.bincount(inter.user, minlength=dataset.n_users)
    starts = np.cumsum(counts) - counts
    user_sorted = inter.user[order]
    pos = np.arange(len(inter)) - starts[user_sorted]  # position in the user's shuffled list
    n_held = np.minimum(np.round(counts * fraction), np.maximum(counts - 1, 0)).astype(np.int64)
    held = np.zeros(len(inter), bool)
    held[order] = pos < n_held[user_sorted]
    name = dataset.name
    return (dataset.with_interactions(inter.take(~held), f"{name}-kept{seed}"),
            dataset.with_interactions(inter.take(held), f"{name}-held{seed}"))


def fold_ranking_data(
    make_pipeline: Callable[[], Pipeline],
    dataset: Dataset,
    *,
    folds: int = 4,
    fraction: float = 1 / 9,
    seed: int = 0,
) -> RankingData:
    """Ranker data from ``folds`` independent holdouts of ``dataset`` (seeds ``seed + f``): for each,
    a fresh pipeline from ``make_pipeline()`` is fitted on the kept part and labels the held part."""
    if isinstance(folds, bool) or folds < 1:
        raise ConfigError(f"folds must be a positive integer, got {folds!r}")
    parts = []
    for f in range(folds):
        kept, held = holdout_split(dataset, fraction, seed + f)
        parts.append(make_pipeline().fit(kept).ranking_data(held))
    return RankingData.concat(parts)
