"""Ranker training data from holdout folds of the fitted data (known answers on the block dataset)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recstrata.errors import ConfigError
from recstrata.ranking.folds import RankingData, fold_ranking_data, holdout_split
from recstrata.ranking.pipeline import Pipeline
from recstrata.ranking.ranker import LambdaRanker
from recstrata.retrieval.ease import EASE
from recstrata.retrieval.popularity import Popularity

pytest.importorskip("lightgbm")


def pairs(ds) -> set[tuple[int, int]]:
    return set(zip(ds.interactions.user.tolist(), ds.interactions.item.tolist()))


def test_holdout_split_hides_a_random_share_of_every_user(blocks):
    ds, _ = blocks  # 40 users with 9 items each
    kept, held = holdout_split(ds, fraction=1 / 3, seed=1)
    assert pairs(kept) | pairs(held) == pairs(ds) and not pairs(kept) & pairs(held)
    assert np.bincount(held.interactions.user, minlength=ds.n_users).tolist() == [3] * ds.n_users
    assert np.bincount(kept.interactions.user, minlength=ds.n_users).tolist() == [6] * ds.n_users
    assert pairs(holdout_split(ds, 1 / 3, seed=2)[1]) != pairs(held)  # another seed, another holdout
    assert pairs(holdout_split(ds, 1 / 3, seed=1)[1]) == pairs(held)  # reproducible
    _, most = holdout_split(ds, fraction=0.99, seed=0)
    assert np.bincount(most.interactions.user).max() == 8  # one item always stays
    with pytest.raises(ConfigError, match="fraction"):
        holdout_split(ds, fraction=1.0)


def toy(n_groups: int = 3, names=("a", "b")) -> RankingData:
    sizes = np.arange(2, 2 + n_groups)
    rows = int(sizes.sum())
    y = np.zeros(rows, np.float32)
    y[0] = 1.0  # only the first group has a positive
    return RankingData(np.arange(rows * len(names), dtype=np.float32).reshape(rows, len(names)), y, sizes,
                       np.arange(n_groups), np.arange(rows), tuple(names))


def test_ranking_data_take_concat_and_positives():
    data = toy()
    assert data.group_has_positive().tolist() == [True, False, False]
    part = data.take(np.array([False, True, True]))
    assert part.groups.tolist() == [3, 4] and part.items.tolist() == list(range(2, 9))
    np.testing.assert_array_equal(part.x, data.x[2:])
    both = RankingData.concat([data, part])
    assert both.n_groups == 5 and both.x.shape == (16, 2)
    with pytest.raises(ConfigError, match="different features"):
        RankingData.concat([data, toy(names=("a", "c"))])
    with pytest.raises(ConfigError, match="must agree"):
        RankingData(data.x, data.y[:-1], data.groups, data.users, data.items, data.feature_names)


def test_pipeline_ranking_data_labels_the_later_items(blocks):
    ds, expected = blocks
    kept, held = holdout_split(ds, fraction=1 / 9, seed=0)
    pipe = Pipeline({"ease": EASE(reg=1.0)}, n_per_source=ds.n_items).fit(kept)
    data = pipe.ranking_data(held)
    assert data.n_groups == ds.n_users and list(data.feature_names) == pipe.feature_names()
    held_item = dict(zip(held.interactions.user.tolist(), held.interactions.item.tolist()))
    starts = np.concatenate([[0], np.cumsum(data.groups)[:-1]])
    for g, u in enumerate(data.users):
        rows = slice(starts[g], starts[g] + data.groups[g])
        assert data.items[rows][data.y[rows] == 1].tolist() == [held_item[u]]
        assert not set(data.items[rows]) & set(kept.user_items[u].indices)  # the fitted history is excluded


def test_ranker_trained_on_folds_alone_finds_the_missing_item(blocks):
    """Popularity cannot tell items apart; the ranker must learn "same genre as the history" from
    the folds, where the label is a hidden train item, and transfer it to the real missing item."""
    ds, expected = blocks

    def make() -> Pipeline:
        return Pipeline({"pop": Popularity()}, n_per_source=ds.n_items,
                        ranker=LambdaRanker(n_estimators=40, min_data_in_leaf=5, learning_rate=0.1))

    data = fold_ranking_data(make, ds, folds=3, fraction=1 / 9, seed=0)
    assert data.n_groups == 3 * ds.n_users and data.y.sum() == 3 * ds.n_users
    pipe = make().fit(ds).fit_ranker_on(data)
    ids, _ = pipe.recommend(np.arange(ds.n_users), k=1)
    assert (ids[:, 0] == expected).mean() >= 0.95
    assert next(iter(pipe.ranker_.feature_importance())).startswith("genre")
    assert make().fit(ds).fit_ranker_on(data, n_estimators=7).ranker_.best_iteration_ == 7
    other = Pipeline({"ease": EASE(reg=1.0)}, ranker=LambdaRanker()).fit(ds)
    with pytest.raises(ConfigError, match="other features"):
        other.fit_ranker_on(data)
    with pytest.raises(ConfigError, match="folds"):
        fold_ranking_data(make, ds, folds=0)


def test_empty_groups_have_no_positive_and_users_without_candidates_get_no_group(blocks):
    x = np.zeros((5, 2), np.float32)
    data = RankingData(x, np.array([0, 0, 1, 0, 0], np.float32), np.array([2, 0, 3, 0]), np.arange(4),
                       np.arange(5), ("a", "b"))
    assert data.group_has_positive().tolist() == [False, False, True, False]
    ds, _ = blocks
    kept, held = holdout_split(ds, fraction=1 / 9, seed=0)
    pipe = Pipeline({"ease": EASE(reg=1.0)}, n_per_source=ds.n_items,
                    ranker=LambdaRanker(n_estimators=5, min_data_in_leaf=1)).fit(kept)
    last = int(held.interactions.user.max())
    exclude = np.zeros((ds.n_users, ds.n_items), np.float32)
    exclude[last] = 1.0  # the last labelled user has no candidate left
    data = pipe.ranking_data(held, exclude=sp.csr_matrix(exclude))
    assert last not in data.users and (data.groups > 0).all()
    pipe.fit_ranker(held, folds=2)
    assert hasattr(pipe, "ranker_valid_ndcg_")
    pipe.fit_ranker_on(data)  # a new ranker: the old fit_ranker figures no longer describe it
    assert not hasattr(pipe, "ranker_valid_ndcg_")
