"""Choosing rank-fusion weights on labels (known answers, and an out-of-fold figure that is honest)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recstrata.data.dataset import Interactions
from recstrata.errors import ConfigError, DataError
from recstrata.evaluation.metrics import accuracy
from recstrata.ranking.candidates import Candidates, concat_candidates, merge_candidates
from recstrata.ranking.fusion import fusion_settings, per_user_ndcg, rrf_scores, tune_fusion
from recstrata.ranking.pipeline import Pipeline
from recstrata.retrieval.ease import EASE
from recstrata.retrieval.popularity import Popularity


def ranked_lists(order_by_user: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array(order_by_user, np.int64)
    return ids, -np.arange(ids.shape[1], dtype=np.float32)[None].repeat(len(ids), 0)


def test_settings_skip_all_zero_and_rescaled_duplicates():
    got = fusion_settings(("a", "b"), (0.0, 0.5, 1.0), (60.0,))
    assert got == [((0.0, 0.5), 60.0), ((0.5, 0.0), 60.0), ((0.5, 0.5), 60.0), ((0.5, 1.0), 60.0), ((1.0, 0.5), 60.0)]
    assert len(fusion_settings(("a",), (0.0, 1.0), (10.0, 60.0))) == 2
    for weights, ks in [((-1.0, 1.0), (60.0,)), ((0.0,), (60.0,)), (("1",), (60.0,)), ((1.0,), (None,))]:
        with pytest.raises(ConfigError, match="weights"):
            fusion_settings(("a",), weights, ks)
    with pytest.raises(ConfigError, match="59,049 settings"):
        fusion_settings(tuple("abcdefghij"), (0.0, 0.5, 1.0), (60.0,))


def test_rrf_scores_by_hand():
    ranks = np.array([[[1.0, 2.0]], [[np.nan, 1.0]]], np.float32)  # 2 sources, 1 row, 2 candidates
    got = rrf_scores(ranks, [1.0, 2.0], 10.0)
    np.testing.assert_allclose(got, [[1 / 11, 1 / 12 + 2 / 11]], rtol=1e-6)


def test_the_source_that_is_right_gets_the_weight():
    # 6 users, 4 items; user u's relevant item is u % 4; "good" ranks it first, "bad" ranks it last
    users = 6
    good = [[u % 4] + [i for i in range(4) if i != u % 4] for u in range(users)]
    bad = [list(reversed(row)) for row in good]
    cands = merge_candidates(("bad", "good"), [ranked_lists(bad), ranked_lists(good)], 4)
    truth = sp.csr_matrix((np.ones(users), (np.arange(users), np.arange(users) % 4)), shape=(users, 4))
    choice = tune_fusion(cands, truth, weights=(0.0, 1.0), ks=(60.0,), folds=3)
    assert choice.weights == {"bad": 0.0, "good": 1.0}
    assert choice.ndcg == pytest.approx(1.0) and choice.cv_ndcg == pytest.approx(1.0)
    assert all(w == {"bad": 0.0, "good": 1.0} for w, _ in choice.fold_choices)
    # bad alone puts the relevant item 4th: NDCG = 1 / log2(5)
    table = per_user_ndcg(cands, truth, [((1.0, 0.0), 60.0)])
    np.testing.assert_allclose(table, 1 / np.log2(5))


def test_out_of_fold_figure_is_below_the_in_sample_best_on_noise():
    # sources that are pure noise: the in-sample best of many settings is a lucky draw, and the
    # out-of-fold estimate (each fold scored with the others' choice) must not share that luck
    rng = np.random.default_rng(0)
    users, items, n_src = 300, 40, 4
    results = [ranked_lists([list(rng.permutation(items)) for _ in range(users)]) for _ in range(n_src)]
    cands = merge_candidates(tuple("abcd"), results, items)
    truth = sp.csr_matrix((np.ones(users), (np.arange(users), rng.integers(0, items, users))), shape=(users, items))
    choice = tune_fusion(cands, truth, weights=(0.0, 0.5, 1.0), ks=(1.0, 10.0, 60.0), folds=5)
    assert choice.n_settings == len(fusion_settings(tuple("abcd"), (0.0, 0.5, 1.0), (1.0, 10.0, 60.0)))
    assert choice.cv_ndcg < choice.ndcg


def test_users_without_labels_are_ignored_and_bad_input_is_named():
    ids = ranked_lists([[0, 1], [1, 0], [0, 1]])
    cands = merge_candidates(("a",), [ids], 2)
    truth = sp.csr_matrix(([1.0, 1.0], ([0, 2], [0, 0])), shape=(3, 2))  # user 1 has no label
    choice = tune_fusion(cands, truth, weights=(1.0,), ks=(60.0,), folds=None)
    assert choice.n_users == 2 and choice.ndcg == pytest.approx(1.0) and choice.cv_ndcg is None
    for folds in (1, 2.5, True):
        with pytest.raises(ConfigError, match="folds"):
            tune_fusion(cands, truth, folds=folds)
    with pytest.raises(ConfigError, match="rows"):
        tune_fusion(cands, truth[:2])
    with pytest.raises(DataError, match="too few"):
        tune_fusion(cands, truth, folds=3)


def test_concat_candidates_pads_to_the_widest():
    a = merge_candidates(("s",), [ranked_lists([[0, 1, 2]])], 3)
    b = merge_candidates(("s",), [ranked_lists([[2]])], 3)
    both = concat_candidates([a, b])
    assert both.items.tolist() == [[0, 1, 2], [2, -1, -1]]
    assert np.isnan(both.ranks[0, 1, 1:]).all() and both.ranks[0, 1, 0] == 1
    with pytest.raises(ConfigError):
        concat_candidates([a, Candidates(("t",), b.items, b.scores, b.ranks)])


def test_pipeline_fit_fusion_agrees_with_the_evaluator(blocks):
    """Each grid setting's NDCG from the fusion table equals the pipeline's own ranking scored by
    the project's metrics; the chosen setting is the best of them and is what the pipeline serves."""
    ds, expected = blocks
    users = np.arange(ds.n_users)
    labels = ds.with_interactions(Interactions.from_arrays(users, expected[users]), "labels")
    pipe = Pipeline({"ease": EASE(reg=1.0), "pop": Popularity()}, n_per_source=8).fit(ds)
    pipe.fit_fusion(labels, weights=(0.0, 0.5, 1.0), ks=(1.0, 60.0), folds=2)
    report = pipe.fusion_report_
    means = {}
    for w, k in fusion_settings(("ease", "pop"), (0.0, 0.5, 1.0), (1.0, 60.0)):
        probe = Pipeline(pipe.sources, n_per_source=8, fusion_weights=dict(zip(("ease", "pop"), w)), fusion_k=k)
        probe.fit(ds, fit_sources=False)
        ranked, _ = probe.recommend(users, k=10)
        means[(w, k)] = accuracy(ranked, labels.user_items, [10], ["ndcg"])[0]["ndcg@10"].mean()
    assert report.ndcg == pytest.approx(max(means.values()))
    assert report.ndcg == pytest.approx(means[(tuple(report.weights.values()), report.k)])
    assert report.weights["ease"] > report.weights["pop"]  # popularity ties cannot find the block item
    assert (pipe.fusion_weights, pipe.fusion_k) == (report.weights, report.k)
    assert report.cv_ndcg is not None and report.n_users == ds.n_users


@pytest.mark.parametrize("bad, named", [(dict(weights=(0.0,)), "weight"), (dict(folds=2.5), "folds"),
                                        (dict(max_users=0), "max_users"), (dict(max_users=1.5), "max_users")])
def test_fit_fusion_refuses_bad_settings_before_retrieving(blocks, bad, named):
    ds, _ = blocks
    pipe = Pipeline({"pop": Popularity()}, n_per_source=4).fit(ds)
    with pytest.raises(ConfigError, match=named):
        pipe.fit_fusion(ds, **bad)
