"""rating_weight: EASE / EDLAE / GF-CF / ALS fitted on explicit ratings instead of binary interactions
(the two-tower's loss weights: test_two_tower.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conformance import RecommenderConformance
from tests_support import tiny_dataset, with_ratings as rated

from recstrata.errors import ConfigError
from recstrata.retrieval._item_item import weighted_interactions
from recstrata.retrieval.als import ALS
from recstrata.retrieval.ease import EASE
from recstrata.retrieval.edlae import EDLAE
from recstrata.retrieval.gfcf import GFCF


class TestRatedEASE(RecommenderConformance):
    make = staticmethod(lambda: EASE(reg=1.0, rating_weight=0.5))
    rated = True


class TestRatedEDLAE(RecommenderConformance):
    make = staticmethod(lambda: EDLAE(dropout=0.1, reg=1.0, rating_weight=0.5))
    rated = True


class TestRatedGFCF(RecommenderConformance):
    make = staticmethod(lambda: GFCF(k=4, alpha=0.3, rating_weight=0.5))
    rated = True


class TestRatedALS(RecommenderConformance):
    make = staticmethod(lambda: ALS(factors=8, iterations=20, regularization=0.01, rating_weight=0.5))
    rated = True


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


@pytest.mark.parametrize("model", [EASE, lambda **kw: GFCF(k=4, **kw), ALS])
@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.5", None, True])
def test_bad_rating_weight_is_named(blocks, model, bad):
    with pytest.raises(ConfigError, match="rating_weight"):
        model(rating_weight=bad).fit(blocks[0])


# ---- GF-CF: users {0, 1} and {1, 2} as in test_gfcf.py, user 0 rating item 1 only 1 of 5 ----------
# b 0.5: R = [[1, 0.6, 0], [0, 1, 1]]; user degrees (1.6, 2), item degrees (1, 1.6, 1);
# R̃ = D_U^-1/2 R D_I^-1/2 = [[1/√1.6, 0.6/1.6, 0], [0, 1/√3.2, 1/√2]]
R_TILDE = np.array([[1 / np.sqrt(1.6), 0.375, 0], [0, 1 / np.sqrt(3.2), 1 / np.sqrt(2)]])


def tiny_rated():
    return rated(tiny_dataset([[0, 1], [1, 2]], n_items=3), np.array([5, 1, 5, 5], np.float32))


def test_gfcf_normalises_the_weighted_cells_by_hand():
    ds = tiny_rated()
    model = GFCF(k=1, alpha=0.0, rating_weight=0.5).fit(ds)
    np.testing.assert_allclose(model.weights_, R_TILDE.T @ R_TILDE, rtol=1e-6)
    # keeping every frequency the ideal filter is still the identity, whatever the degrees
    full = GFCF(k=3, alpha=0.5, rating_weight=0.5).fit(ds)
    np.testing.assert_allclose(full.weights_, R_TILDE.T @ R_TILDE + 0.5 * np.eye(3), atol=1e-6)
    # known users are scored from their weighted rows, a request-time history is binary
    rows = np.array([[1, 0.6, 0], [0, 1, 1]])
    np.testing.assert_allclose(model._score_users(np.arange(2)), rows @ model.weights_, rtol=1e-6)
    np.testing.assert_allclose(model._score_histories(ds.user_items), ds.user_items @ model.weights_,
                               rtol=1e-6)


def test_gfcf_weight_zero_or_equal_ratings_is_the_binary_model(rated_blocks):
    ds, _ = rated_blocks
    binary = GFCF(k=4, alpha=0.3).fit(ds)
    all_fours = rated(ds, np.full(len(ds.interactions), 4.0, np.float32))
    for same in (GFCF(k=4, alpha=0.3, rating_weight=0.0).fit(ds),
                 GFCF(k=4, alpha=0.3, rating_weight=0.8).fit(all_fours)):
        np.testing.assert_array_equal(same.weights_, binary.weights_)
        np.testing.assert_array_equal(same.recommend(np.arange(ds.n_users), k=5)[0],
                                      binary.recommend(np.arange(ds.n_users), k=5)[0])
    assert not np.allclose(GFCF(k=4, alpha=0.3, rating_weight=0.8).fit(ds).weights_, binary.weights_)


# ---- ALS ------------------------------------------------------------------------------------------
ALS_SMALL = {"factors": 8, "iterations": 20, "regularization": 0.01}


def implicit_factors(matrix):
    """User and item factors of implicit's ALS fitted directly on ``matrix``, as ALS(**ALS_SMALL) does."""
    implicit = pytest.importorskip("implicit")
    model = implicit.cpu.als.AlternatingLeastSquares(alpha=2.0, random_state=2020, **ALS_SMALL)
    model.fit(matrix, show_progress=False)
    return model.user_factors, model.item_factors


def test_als_weight_zero_or_equal_ratings_is_the_binary_fit(rated_blocks):
    ds, _ = rated_blocks
    users, items = implicit_factors(ds.user_items)  # what ALS fitted before rating_weight existed
    all_fours = rated(ds, np.full(len(ds.interactions), 4.0, np.float32))
    for model in (ALS(**ALS_SMALL).fit(ds), ALS(**ALS_SMALL, rating_weight=0.0).fit(ds),
                  ALS(**ALS_SMALL, rating_weight=0.8).fit(all_fours)):
        np.testing.assert_array_equal(model.user_factors_, users)
        np.testing.assert_array_equal(model.item_factors_, items)


def test_als_fits_the_weighted_matrix(rated_blocks):
    ds, _ = rated_blocks
    model = ALS(**ALS_SMALL, rating_weight=0.8).fit(ds)
    users, items = implicit_factors(weighted_interactions(ds, 0.8).astype(np.float32))
    np.testing.assert_array_equal(model.user_factors_, users)
    np.testing.assert_array_equal(model.item_factors_, items)
    assert not np.allclose(items, implicit_factors(ds.user_items)[1], atol=1e-3)


def test_als_fold_in_is_implicits_own_user_step(rated_blocks):
    """Known users keep the factors fitted on their weighted rows; folding a row in solves the same
    least-squares step implicit takes (its confidence is alpha * r), for a weighted training row and
    for a binary history given at request time alike."""
    implicit = pytest.importorskip("implicit")
    ds, _ = rated_blocks
    rows = weighted_interactions(ds, 0.8).astype(np.float32)
    ref = implicit.cpu.als.AlternatingLeastSquares(alpha=2.0, random_state=2020, **ALS_SMALL)
    ref.fit(rows, show_progress=False)
    model = ALS(**ALS_SMALL, rating_weight=0.8).fit(ds)
    users = np.arange(6)
    for histories in (rows[users], ds.user_items[users]):
        np.testing.assert_allclose(model._fold_in(histories), ref.recalculate_user(users, histories),
                                   rtol=1e-4, atol=1e-4)
