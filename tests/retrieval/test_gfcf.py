"""GF-CF: conformance plus the two filters on a three-item path graph computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from conformance import RecommenderConformance
from tests_support import tiny_dataset

from recstrata.errors import ConfigError
from recstrata.retrieval.gfcf import GFCF


class TestGFCF(RecommenderConformance):
    # the blocks are 4 disconnected components: the 4 smoothest frequencies are one per block
    make = staticmethod(lambda: GFCF(k=4, alpha=0.3))


# users {0, 1} and {1, 2}: user degrees 2, 2; item degrees d = (1, 2, 1);
# R̃ = [[1/√2, 1/2, 0], [0, 1/2, 1/√2]] and R̃ᵀR̃ = I/2 + path adjacency / (2√2)
HISTORIES = [[0, 1], [1, 2]]
C = 1 / (2 * np.sqrt(2))
LINEAR = np.array([[0.5, C, 0], [C, 0.5, C], [0, C, 0.5]])


def test_linear_filter_alone():
    model = GFCF(k=1, alpha=0.0).fit(tiny_dataset(HISTORIES, n_items=3))
    np.testing.assert_allclose(model.weights_, LINEAR, rtol=1e-6)


def test_ideal_low_pass_with_one_frequency_is_popularity():
    # the top singular vector of R̃ (connected graph) is v = D^1/2·1 / sqrt(sum d), so
    # D^-1/2 v vᵀ D^1/2 = 1 dᵀ / sum(d): every row is item popularity / #interactions = (1, 2, 1) / 4
    model = GFCF(k=1, alpha=2.0).fit(tiny_dataset(HISTORIES, n_items=3))
    np.testing.assert_allclose(model.weights_, LINEAR + 2.0 * np.tile([0.25, 0.5, 0.25], (3, 1)), atol=1e-6)


def test_ideal_low_pass_keeping_every_frequency_is_identity():
    model = GFCF(k=3, alpha=0.5).fit(tiny_dataset(HISTORIES, n_items=3))
    np.testing.assert_allclose(model.weights_, LINEAR + 0.5 * np.eye(3), atol=1e-6)


@pytest.mark.parametrize("params", [{"k": 0}, {"k": 4}, {"alpha": -1.0}])
def test_bad_parameters_are_clear_errors(params):
    with pytest.raises(ConfigError, match="GF-?CF"):
        GFCF(**params).fit(tiny_dataset(HISTORIES, n_items=3))
