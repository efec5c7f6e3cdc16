"""UserKNN: the shared conformance suite plus neighbour scores computed by hand on a 3-user toy."""

from __future__ import annotations

import numpy as np
import pytest
from conformance import RecommenderConformance
from tests_support import tiny_dataset

from recstrata.errors import ConfigError
from recstrata.retrieval.userknn import UserKNN


class TestUserKNN(RecommenderConformance):
    make = staticmethod(lambda: UserKNN(k=9))


# u0 = {0, 1}, u1 = {0, 1, 2}, u2 = {1, 3} over 4 items. Cosine of binary histories:
# sim(u0, u1) = 2 / (√2·√3) = 2/√6, sim(u0, u2) = 1 / (√2·√2) = 1/2, sim(u1, u2) = 1 / √6.
TOY = [[0, 1], [0, 1, 2], [1, 3]]


def test_known_user_scores_by_hand():
    model = UserKNN(k=2).fit(tiny_dataset(TOY, n_items=4))
    # u0 is not its own neighbour: u1 (2/√6) brings item 2, u2 (1/2) brings item 3
    ids, scores = model.recommend([0], k=2)
    assert ids[0].tolist() == [2, 3]
    np.testing.assert_allclose(scores[0], [2 / np.sqrt(6), 0.5], rtol=1e-6)
    # u1's neighbours: u0 (2/√6) holds nothing new, u2 (1/√6) brings item 3
    ids, scores = model.recommend([1], k=1)
    assert ids[0, 0] == 3 and scores[0, 0] == pytest.approx(1 / np.sqrt(6))


def test_history_is_scored_against_every_training_user():
    model = UserKNN(k=2).fit(tiny_dataset(TOY, n_items=4))
    # the anonymous history {0, 1} has u0 (1.0) and u1 (2/√6) as its 2 neighbours: u2 is cut,
    # so item 3 scores 0; with k=3 u2 (1/2) is kept and item 3 scores 1/2
    ids, scores = model.recommend(histories=[[0, 1]], k=2)
    assert ids[0].tolist() == [2, 3]
    np.testing.assert_allclose(scores[0], [2 / np.sqrt(6), 0.0], atol=1e-7)
    _, scores = UserKNN(k=3).fit(tiny_dataset(TOY, n_items=4)).recommend(histories=[[0, 1]], k=2)
    np.testing.assert_allclose(scores[0], [2 / np.sqrt(6), 0.5], rtol=1e-6)
    # a history with item 3 only: u2 (1/√2) is the one neighbour; items 1 then the rest
    ids, scores = model.recommend(histories=[[3]], k=1)
    assert ids[0, 0] == 1 and scores[0, 0] == pytest.approx(1 / np.sqrt(2))


def test_shrink_damps_similarities():
    model = UserKNN(k=2, shrink=1.0).fit(tiny_dataset(TOY, n_items=4))
    _, scores = model.recommend([0], k=2)
    np.testing.assert_allclose(scores[0], [2 / (np.sqrt(6) + 1), 1 / 3], rtol=1e-6)


def test_asymmetric_cosine_and_locality():
    # asymmetry 0: sim(u0, v) = |h_0 ∩ h_v| / |h_v|, so u1 2/3 and u2 1/2; locality 2 squares them
    model = UserKNN(k=2, asymmetry=0.0, locality=2.0).fit(tiny_dataset(TOY, n_items=4))
    _, scores = model.recommend([0], k=2)
    np.testing.assert_allclose(scores[0], [4 / 9, 1 / 4], rtol=1e-6)
    # asymmetry 1: sim = overlap / |h_u| (neighbour sizes no longer count): u1 2/2 = 1, u2 1/2
    _, scores = UserKNN(k=2, asymmetry=1.0).fit(tiny_dataset(TOY, n_items=4)).recommend([0], k=2)
    np.testing.assert_allclose(scores[0], [1.0, 0.5], rtol=1e-6)


def test_chunked_scoring_is_identical(blocks):
    ds, _ = blocks
    model = UserKNN(k=5).fit(ds)
    whole = model.recommend(np.arange(ds.n_users), k=5)
    model.score_budget = 3 * ds.n_users  # 3 rows per similarity block
    chunked = model.recommend(np.arange(ds.n_users), k=5)
    np.testing.assert_array_equal(whole[0], chunked[0])
    np.testing.assert_allclose(whole[1], chunked[1], rtol=1e-6)


@pytest.mark.parametrize(("params", "match"), [
    ({"k": 0}, "k=0"), ({"k": 2.5}, "k=2.5"), ({"k": True}, "k=True"), ({"shrink": -1.0}, "shrink=-1.0"),
    ({"asymmetry": 1.5}, "asymmetry=1.5"), ({"locality": 0.0}, "locality=0.0"),
])
def test_bad_parameters_are_clear_errors(params, match):
    with pytest.raises(ConfigError, match=match):
        UserKNN(**params).fit(tiny_dataset(TOY, n_items=4))
