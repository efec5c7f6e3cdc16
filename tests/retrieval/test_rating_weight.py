"""rating_weight: EASE / EDLAE fitted on explicit ratings instead of binary interactions."""

from __future__ import annotations

import numpy as np
import pytest
from conformance import RecommenderConformance

from recstrata.data.dataset import Interactions
from recstrata.errors import ConfigError
from recstrata.retrieval._item_item import weighted_interactions
from recstrata.retrieval.ease import EASE
from recstrata.retrieval.edlae import EDLAE


def rated(ds, ratings):
    inter = ds.interactions
    return ds.with_interactions(Interactions.from_arrays(inter.user, inter.item, ratings, inter.timestamp))


class TestRatedEASE(RecommenderConformance):
    make = staticmethod(lambda: EASE(reg=1.0, rating_weight=0.5))


class TestRatedEDLAE(RecommenderConformance):
    make = staticmethod(lambda: EDLAE(dropout=0.1, reg=1.0, rating_weight=0.5))


def test_cell_values_by_hand(blocks):
    ds, _ = blocks
    ratings = np.where(np.arange(len(ds.interactions)) % 2 == 0, 5.0, 1.0).astype(np.float32)
    x = weighted_interactions(rated(ds, ratings), 0.5)
    # 1 - 0.5 + 0.5 * r / 5: a 5 counts 1.0, a 1 counts 0.6
    assert sorted(set(np.round(x.data, 6))) == [0.6, 1.0]
    assert weighted_interactions(ds, 0.0).data.tolist() == ds.user_items.data.tolist()


def test_equal_ratings_or_weight_zero_are_the_binary_model(blocks):
    ds, _ = blocks
    binary = EASE(reg=1.0).fit(ds).weights_
    np.testing.assert_array_equal(EASE(reg=1.0, rating_weight=0.0).fit(ds).weights_, binary)
    all_fives = rated(ds, np.full(len(ds.interactions), 5.0, np.float32))
    np.testing.assert_allclose(EASE(reg=1.0, rating_weight=0.7).fit(all_fives).weights_, binary, atol=1e-6)


def test_ratings_change_the_model_and_known_users_are_scored_from_weighted_rows(blocks, tmp_path):
    ds, _ = blocks
    rng = np.random.default_rng(0)
    varied = rated(ds, rng.integers(1, 6, len(ds.interactions)).astype(np.float32))
    model = EASE(reg=1.0, rating_weight=0.8).fit(varied)
    assert not np.allclose(model.weights_, EASE(reg=1.0).fit(varied).weights_)
    users = np.arange(ds.n_users)
    rows = weighted_interactions(varied, 0.8)
    np.testing.assert_allclose(model._score_users(users), rows @ model.weights_, rtol=1e-5, atol=1e-6)
    # a history given at request time is binary: each item counts like a top rating
    np.testing.assert_allclose(model._score_histories(ds.user_items[:3]), ds.user_items[:3] @ model.weights_,
                               rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "m")
    from recstrata.retrieval.base import Recommender

    loaded = Recommender.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded._score_users(users), model._score_users(users))


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.5", None, True])
def test_bad_rating_weight_is_named(blocks, bad):
    with pytest.raises(ConfigError, match="rating_weight"):
        EASE(rating_weight=bad).fit(blocks[0])
