"""Conformance of the classic baselines, plus model-specific known answers."""

from __future__ import annotations

import numpy as np
import pytest
from conformance import RecommenderConformance

from recstrata.retrieval.als import ALS
from recstrata.retrieval.bpr import BPR
from recstrata.retrieval.ease import EASE
from recstrata.retrieval.itemknn import ItemKNN
from recstrata.retrieval.popularity import Popularity
from recstrata.retrieval.rp3beta import RP3beta


class TestPopularity(RecommenderConformance):
    make = staticmethod(Popularity)
    knows_blocks = False

    def test_true_counts(self, blocks):
        ds, _ = blocks
        model = Popularity().fit(ds)
        np.testing.assert_array_equal(model.counts_, np.full(ds.n_items, 9.0))


class TestItemKNN(RecommenderConformance):
    make = staticmethod(lambda: ItemKNN(k=20))


class TestRP3beta(RecommenderConformance):
    make = staticmethod(lambda: RP3beta(k=20, beta=0.5))

    def test_walk_probabilities_on_tiny_matrix(self):
        # X = [[1,1,0],[0,1,1]]: from item 0 the walk goes to user 0, then to item 0 or 1 (1/2 each);
        # from item 1 to user 0 or 1, then ... -> P3[1] = [1/4, 1/2, 1/4]; diagonal removed
        from tests_support import tiny_dataset

        ds = tiny_dataset([[0, 1], [1, 2]], n_items=3)
        w = RP3beta(k=2, alpha=1.0, beta=0.0).fit(ds).similarity_.toarray()
        np.testing.assert_allclose(w, [[0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]], rtol=1e-6)
        # beta > 0 divides by popularity(j) ** beta before the row is normalised: item 1 has 2 users
        w = RP3beta(k=2, alpha=1.0, beta=1.0).fit(ds).similarity_.toarray()
        np.testing.assert_allclose(w[1], [0.5, 0, 0.5], rtol=1e-6)
        w = RP3beta(k=1, alpha=2.0, beta=0.0).fit(tiny_dataset([[0, 1], [0, 1], [0, 2]], n_items=3))
        assert w.similarity_.toarray()[0].tolist() == [0, 1, 0]  # only the k=1 strongest neighbour


class TestEASE(RecommenderConformance):
    make = staticmethod(lambda: EASE(reg=1.0))

    def test_closed_form_on_tiny_matrix(self):
        # X = [[1,1,0],[0,1,1]]; G = XᵀX + I; B = I - P diag(1/diag P) with zero diagonal
        from tests_support import tiny_dataset

        ds = tiny_dataset([[0, 1], [1, 2]], n_items=3)
        model = EASE(reg=1.0).fit(ds)
        g = np.array([[1, 1, 0], [1, 2, 1], [0, 1, 1]], float) + np.eye(3)
        p = np.linalg.inv(g)
        b = -p / np.diag(p)
        np.fill_diagonal(b, 0)
        np.testing.assert_allclose(model.weights_, b, rtol=1e-5)


class TestALS(RecommenderConformance):
    make = staticmethod(lambda: ALS(factors=8, iterations=20, regularization=0.01))


class TestBPR(RecommenderConformance):
    make = staticmethod(lambda: BPR(factors=16, iterations=300, learning_rate=0.05))

    def test_history_of_a_known_user_gives_a_sensible_answer(self, fitted, blocks):
        # BPR's fold-in is an approximation (mean of item factors): require an in-block answer
        ds, expected = blocks
        ids, _ = fitted.recommend(histories=[ds.user_items[3].indices], k=1)
        assert ids[0, 0] // 10 == 0


def test_ease_reproduces_recbole_on_its_split(recbole_split):
    """RecBole 1.2.1's EASE (reg_weight 250) on the identical split: NDCG@10 0.3295, Recall@10
    0.2805, MRR@10 0.5277 (test); NDCG@10 0.2563 (valid)."""
    from recstrata.evaluation import evaluate

    model = EASE(reg=250.0).fit(recbole_split.train)
    test = evaluate(model, recbole_split, "test", ks=[10], beyond_accuracy=False, group_by=[]).metrics
    valid = evaluate(model, recbole_split, "valid", ks=[10], beyond_accuracy=False, group_by=[]).metrics
    assert test["ndcg@10"] == pytest.approx(0.3295, abs=0.0005)
    assert test["recall@10"] == pytest.approx(0.2805, abs=0.0005)
    assert test["mrr@10"] == pytest.approx(0.5277, abs=0.0005)
    assert test["hit@10"] == pytest.approx(0.8197, abs=0.0005)
    assert test["precision@10"] == pytest.approx(0.2206, abs=0.0005)
    assert valid["ndcg@10"] == pytest.approx(0.2563, abs=0.0005)


def test_true_count_popularity_on_recbole_split(recbole_split):
    from recstrata.evaluation import evaluate

    model = Popularity().fit(recbole_split.train)
    test = evaluate(model, recbole_split, "test", ks=[10], beyond_accuracy=False, group_by=[]).metrics
    assert test["ndcg@10"] == pytest.approx(0.1418, abs=0.0005)
