"""EDLAE / DLAE: conformance plus the closed forms on a matrix small enough to invert by hand."""

from __future__ import annotations

import numpy as np
import pytest
from conformance import RecommenderConformance
from tests_support import tiny_dataset

from recstrata.errors import ConfigError
from recstrata.retrieval.ease import EASE
from recstrata.retrieval.edlae import EDLAE


class TestEDLAE(RecommenderConformance):
    make = staticmethod(lambda: EDLAE(dropout=0.25, reg=1.0))


class TestDLAE(RecommenderConformance):
    make = staticmethod(lambda: EDLAE(dropout=0.25, reg=1.0, zero_diagonal=False))


# items 0 and 1 seen by 3 and 2 users, together by one: XᵀX = [[3, 1], [1, 2]]. With dropout 0.5
# and reg 1, Λ = 0.5/0.5·diag(3, 2) + I = diag(4, 3), so XᵀX + Λ = [[7, 1], [1, 5]] and
# P = [[5, -1], [-1, 7]] / 34.
HISTORIES = [[0, 1], [0], [0], [1]]


def test_dlae_closed_form_by_hand():
    # B = P XᵀX = [[14, 3], [4, 13]] / 34
    model = EDLAE(dropout=0.5, reg=1.0, zero_diagonal=False).fit(tiny_dataset(HISTORIES, n_items=2))
    np.testing.assert_allclose(model.weights_, np.array([[14, 3], [4, 13]]) / 34, rtol=1e-6)


def test_edlae_closed_form_by_hand():
    # B[i, j] = -P[i, j] / P[j, j], zero diagonal: B[0, 1] = 1/7, B[1, 0] = 1/5. The penalty is
    # per item (popular item 0 is penalised more), so the two directions differ.
    model = EDLAE(dropout=0.5, reg=1.0).fit(tiny_dataset(HISTORIES, n_items=2))
    np.testing.assert_allclose(model.weights_, [[0, 1 / 7], [1 / 5, 0]], rtol=1e-6)
    ids, scores = model.recommend(histories=[[0]], k=1)
    assert ids[0, 0] == 1 and scores[0, 0] == pytest.approx(1 / 7)


def test_no_dropout_is_ease(blocks):
    ds, _ = blocks
    np.testing.assert_allclose(EDLAE(dropout=0.0, reg=3.0).fit(ds).weights_, EASE(reg=3.0).fit(ds).weights_,
                               rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("params", [{"dropout": 1.0}, {"dropout": -0.1}, {"reg": 0.0}])
def test_bad_parameters_are_clear_errors(params):
    with pytest.raises(ConfigError, match="EDLAE"):
        EDLAE(**params).fit(tiny_dataset(HISTORIES, n_items=2))
