"""Metrics on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recstrata._ops import topk_rows
from recstrata.evaluation import beyond
from recstrata.evaluation.metrics import accuracy, relevance
from recstrata.errors import ConfigError


def truth(rows: list[list[int]], n_items: int = 10) -> sp.csr_matrix:
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(rows), n_items))


def test_hand_computed_values():
    # user 0: relevant {1, 5}; ranked [1, 2, 5] -> hits at ranks 1 and 3
    # user 1: relevant {7};    ranked [0, 7, 3] -> hit at rank 2
    ranked = np.array([[1, 2, 5], [0, 7, 3]])
    vals, scored = accuracy(ranked, truth([[1, 5], [7]]), ks=[3])
    assert scored.all()
    np.testing.assert_allclose(vals["recall@3"], [1.0, 1.0])
    np.testing.assert_allclose(vals["precision@3"], [2 / 3, 1 / 3])
    np.testing.assert_allclose(vals["hit@3"], [1, 1])
    np.testing.assert_allclose(vals["mrr@3"], [1.0, 0.5])
    idcg0 = 1 + 1 / math.log2(3)
    np.testing.assert_allclose(vals["ndcg@3"], [(1 + 1 / math.log2(4)) / idcg0, (1 / math.log2(3)) / 1.0])
    np.testing.assert_allclose(vals["map@3"], [(1 + 2 / 3) / 2, 0.5])


def test_cutoff_smaller_than_list_and_ideal_dcg_uses_min_k():
    ranked = np.array([[9, 1, 2, 3]])
    vals, _ = accuracy(ranked, truth([[1, 2, 3]]), ks=[1, 2])
    assert vals["recall@1"][0] == 0 and vals["hit@1"][0] == 0 and vals["ndcg@1"][0] == 0
    assert vals["recall@2"][0] == pytest.approx(1 / 3)
    # IDCG@2 over min(2, 3) = 2 relevant items
    assert vals["ndcg@2"][0] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))


def test_users_without_relevant_items_are_skipped():
    ranked = np.array([[1, 2], [3, 4], [5, 6]])
    vals, scored = accuracy(ranked, truth([[1], [], [0]]), ks=[2])
    assert list(scored) == [True, False, True]
    assert list(vals["hit@2"]) == [1.0, 0.0]


def test_k_larger_than_the_list_counts_padding_as_misses():
    # catalog of 3 items, K = 5: the list is padded with -1
    ranked = np.array([[2, 0, 1, -1, -1]])
    vals, _ = accuracy(ranked, truth([[0]], n_items=3), ks=[5, 10])
    assert vals["precision@5"][0] == pytest.approx(1 / 5)
    assert vals["precision@10"][0] == pytest.approx(1 / 10)
    assert vals["recall@10"][0] == 1.0
    assert vals["mrr@10"][0] == 0.5


def test_padding_never_matches_and_bad_input():
    hits, n_rel = relevance(np.array([[-1, -1]]), truth([[0]]))
    assert not hits.any() and n_rel[0] == 1
    with pytest.raises(ConfigError):
        accuracy(np.array([[1]]), truth([[1]]), ks=[0])
    with pytest.raises(ConfigError, match="unknown metric"):
        accuracy(np.array([[1]]), truth([[1]]), metrics=["auc"])
    with pytest.raises(ConfigError):
        relevance(np.array([1, 2]), truth([[1]]))


def test_topk_ties_go_to_the_lower_index_and_inf_is_never_returned():
    scores = np.array([[1.0, 3.0, 3.0, 3.0, -np.inf], [0.0, 0.0, 0.0, 0.0, 0.0]], np.float32)
    ids, top = topk_rows(scores, 2)
    assert ids.tolist() == [[1, 2], [0, 1]]
    ids, top = topk_rows(np.array([[-np.inf, 2.0, -np.inf]], np.float32), 3)
    assert ids.tolist() == [[1, -1, -1]]
    assert np.isneginf(top[0, 1:]).all()
    ids, _ = topk_rows(np.array([[0.5, 0.7]], np.float32), 4)  # k > columns
    assert ids.tolist() == [[1, 0, -1, -1]]


def test_coverage_and_gini():
    ranked = np.array([[0, 1], [0, 1]])
    assert beyond.coverage(ranked, 4, 2) == 0.5
    # exposure [2, 2, 0, 0]: Gini = 0.5; equal exposure [1, 1, 1, 1]: 0
    assert beyond.exposure_gini(ranked, 4, 2) == pytest.approx(0.5)
    assert beyond.exposure_gini(np.array([[0, 1], [2, 3]]), 4, 2) == pytest.approx(0.0)


def test_novelty():
    pop = np.array([4.0, 1.0, 0.0])  # of 4 users
    vals = beyond.novelty(np.array([[0, 1], [2, -1]]), pop, 4, 2)
    np.testing.assert_allclose(vals, [(0 + 2) / 2, 2.0])


def test_intra_list_diversity():
    genres = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 0], [0, 0]], float))
    vals = beyond.intra_list_diversity(np.array([[0, 1], [0, 2], [0, 3]]), genres, 2)
    assert vals[0] == pytest.approx(1.0)  # orthogonal genres
    assert vals[1] == pytest.approx(0.0)  # same genre
    assert np.isnan(vals[2])  # an item without genres: no pair to judge


def test_calibration_kl():
    genres = sp.csr_matrix(np.array([[1, 0], [0, 1]], float))
    history = sp.csr_matrix(np.array([[1, 1]], float))  # p = (0.5, 0.5)
    calibrated = beyond.calibration_kl(np.array([[0, 1]]), history, genres, 2)
    skewed = beyond.calibration_kl(np.array([[0, 0]]), history, genres, 2)
    assert calibrated[0] == pytest.approx(0.0, abs=1e-12)
    # q = (1, 0) -> q~ = (0.995, 0.005): KL = 0.5 ln(0.5/0.995) + 0.5 ln(0.5/0.005)
    expected = 0.5 * math.log(0.5 / 0.995) + 0.5 * math.log(0.5 / 0.005)
    assert skewed[0] == pytest.approx(expected)
