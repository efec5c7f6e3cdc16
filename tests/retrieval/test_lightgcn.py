"""LightGCN: the shared conformance suite plus the propagation and fold-in maths on tiny graphs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conformance import RecommenderConformance

pytest.importorskip("torch")

from recstrata.retrieval.lightgcn import LightGCN, normalised_adjacency  # noqa: E402

SMALL = {"dim": 16, "layers": 2, "epochs": 40, "batch_size": 128, "learning_rate": 0.02}


class TestLightGCN(RecommenderConformance):
    make = staticmethod(lambda: LightGCN(**SMALL))


def test_normalised_adjacency_by_hand():
    # user 0 - items 0, 1; user 1 - item 1. Degrees: u0 2, u1 1, i0 1, i1 2.
    X = sp.csr_matrix(np.array([[1, 1], [0, 1]], np.float32))
    A = normalised_adjacency(X).toarray()
    expected = np.zeros((4, 4), np.float32)
    for u, i, du, di in ((0, 0, 2, 1), (0, 1, 2, 2), (1, 1, 1, 2)):
        expected[u, 2 + i] = expected[2 + i, u] = 1 / np.sqrt(du * di)
    np.testing.assert_allclose(A, expected, rtol=1e-6)


def test_zero_layers_is_matrix_factorisation_and_fold_in_is_empty(blocks):
    ds, _ = blocks
    m = LightGCN(**SMALL | {"layers": 0, "epochs": 2}).fit(ds)
    assert m.item_layers_.shape == (0, ds.n_items, 16)
    np.testing.assert_array_equal(m._fold_in(ds.user_items[:2]), np.zeros((2, 16), np.float32))


def test_fold_in_follows_the_propagation_rule(blocks):
    ds, _ = blocks
    m = LightGCN(**SMALL | {"epochs": 2}).fit(ds)
    history = [0, 1, 2]
    deg = m.item_degree_[history]
    w = 1 / np.sqrt(len(history) * deg)
    expected = sum((w[:, None] * m.item_layers_[k][history]).sum(0) for k in range(2)) / 3
    got = m._fold_in(sp.csr_matrix(([1.0] * 3, ([0] * 3, history)), shape=(1, ds.n_items)))
    np.testing.assert_allclose(got[0], expected, rtol=1e-5)


def test_new_history_gets_its_block(blocks):
    ds, _ = blocks
    m = LightGCN(**SMALL).fit(ds)
    ids, _ = m.recommend(histories=[[30, 31, 32]], k=5)
    assert all(i // 10 == 3 for i in ids[0])


def test_negatives_avoid_positives(blocks):
    ds, _ = blocks
    users = np.repeat(np.arange(ds.n_users), 50)
    neg = LightGCN._negatives(ds.user_items, users, np.random.default_rng(0))
    assert (np.asarray(ds.user_items[users, neg]).ravel() == 0).mean() > 0.99
