"""Full-ranking evaluation end to end on the block data."""

from __future__ import annotations

import numpy as np
import pytest

from recstrata.data.dataset import Interactions
from recstrata.data.split import Split
from recstrata.evaluation import evaluate
from recstrata.retrieval.ease import EASE
from recstrata.retrieval.popularity import Popularity


@pytest.fixture(scope="module")
def block_split(blocks):
    """Hold out each user's in-block missing item... as test: train is the blocks data,
    test holds exactly the known answer for every user."""
    ds, expected = blocks
    test = Interactions.from_arrays(np.arange(ds.n_users), expected)
    valid = Interactions.from_arrays(np.arange(ds.n_users), expected)
    return Split(
        protocol="hand",
        train=ds,
        valid=ds.with_interactions(valid),
        test=ds.with_interactions(test),
    )


def test_perfect_model_scores_one_with_groups(block_split):
    res = evaluate(EASE(reg=1.0).fit(block_split.train), block_split, "valid", ks=[1, 5])
    assert res.metrics["hit@1"] == 1.0 and res.metrics["ndcg@5"] == pytest.approx(1.0)
    assert set(res.groups) == {"activity", "gender", "age"}
    assert res.groups["gender"]["F"]["n_users"] == 20
    assert res.groups["gender"]["F"]["hit@1"] == 1.0
    assert 0 < res.metrics["coverage@5"] <= 1


def test_test_part_excludes_valid_items(block_split):
    # the valid part holds the answer too, so on test it is hidden: nothing left to hit
    res = evaluate(EASE(reg=1.0).fit(block_split.train), block_split, "test", ks=[1])
    assert res.metrics["hit@1"] == 0.0


def test_popularity_ties_break_to_the_lowest_index(block_split):
    # every item has 9 users: ties everywhere, so each user gets the lowest-index unseen item;
    # that is the right answer only for block 0 (items 0-9), i.e. 10 of 40 users
    res = evaluate(Popularity().fit(block_split.train), block_split, "valid", ks=[1], beyond_accuracy=False)
    assert res.metrics["hit@1"] == pytest.approx(0.25)


@pytest.mark.integration
def test_full_ranking_on_ml100k_is_fast_and_matches_recbole_pop(recbole_split):
    import time

    model = Popularity().fit(recbole_split.train)
    start = time.perf_counter()
    res = evaluate(model, recbole_split, "test", ks=[10, 20])
    elapsed = time.perf_counter() - start
    assert res.metrics["ndcg@10"] == pytest.approx(0.1418, abs=5e-4)
    assert elapsed < 30  # generous: the budget lives in bench/, this only catches pathologies


def test_activity_buckets_are_disjoint():
    from recstrata.evaluation.groups import activity_groups
    from tests_support import tiny_dataset

    ds = tiny_dataset([[0], [0, 1], [0, 1, 2], [0, 1, 2, 3]], n_items=4)
    labels = activity_groups(ds, n_buckets=2)
    # quantile edges 1, 2.5, 4 -> counts 1, 2 in the first bucket, 3, 4 in the second
    assert labels.tolist() == ["q1: 1-2", "q1: 1-2", "q2: 3-4", "q2: 3-4"]
