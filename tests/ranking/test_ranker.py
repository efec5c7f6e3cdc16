"""Candidate merging, pair features and the LambdaRank ranker on small data with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recstrata.errors import ArtifactError, ConfigError, DataError, NotFittedError
from recstrata.ranking.candidates import merge_candidates
from recstrata.ranking.features import FeatureBuilder
from recstrata.ranking.ranker import LambdaRanker

pytest.importorskip("lightgbm")


# ---- merging -------------------------------------------------------------------------------------------
def test_merge_dedupes_and_keeps_provenance():
    a = (np.array([[5, 2, 9], [1, -1, -1]]), np.array([[3.0, 2.0, 1.0], [7.0, -np.inf, -np.inf]], np.float32))
    b = (np.array([[2, 7], [4, 1]]), np.array([[0.9, 0.5], [0.8, 0.1]], np.float32))
    c = merge_candidates(("a", "b"), [a, b], n_items=10)
    assert c.shape == (2, 4)  # row 0: {2, 5, 7, 9}; row 1: {1, 4} + 2 padding columns
    assert sorted(c.items[0]) == [2, 5, 7, 9]
    assert sorted(c.items[1][c.valid[1]]) == [1, 4] and (c.items[1][~c.valid[1]] == -1).all()
    col = {int(i): j for j, i in enumerate(c.items[0])}
    # item 2: rank 2 in a (score 2.0), rank 1 in b (score 0.9)
    assert c.ranks[0, 0, col[2]] == 2 and c.ranks[1, 0, col[2]] == 1
    assert c.scores[0, 0, col[2]] == 2.0 and c.scores[1, 0, col[2]] == pytest.approx(0.9)
    # item 9 only from a, item 7 only from b
    assert c.proposed[:, 0, col[9]].tolist() == [True, False]
    assert c.proposed[:, 0, col[7]].tolist() == [False, True]
    assert np.isnan(c.scores[1, 0, col[9]])
    col1 = {int(i): j for j, i in enumerate(c.items[1]) if i >= 0}
    assert c.ranks[0, 1, col1[1]] == 1 and c.ranks[1, 1, col1[1]] == 2


def test_merge_rejects_mismatched_results():
    with pytest.raises(ConfigError):
        merge_candidates(("a",), [(np.zeros((2, 3), int), np.zeros((1, 3)))], n_items=5)


# ---- features ------------------------------------------------------------------------------------------
def _block_candidates(ds, users, items_per_row):
    ids = np.array(items_per_row, np.int64)
    scores = -np.arange(ids.shape[1], dtype=np.float32)[None, :].repeat(len(users), 0)
    return merge_candidates(("s",), [(ids, scores)], ds.n_items)


def test_block_features_have_known_values(blocks):
    ds, expected = blocks
    fb = FeatureBuilder(last_n=3).fit(ds)
    # user 0 (block 0, misses item 0) vs candidates 0 (in block) and 15 (block 1)
    cands = _block_candidates(ds, [0], [[0, 15]])
    x = fb.transform(cands, fb.user_side(users=[0]))
    names = fb.feature_names(("s",))
    f = {n: x[:, j] for j, n in enumerate(names)}
    col = {int(i): j for j, i in enumerate(cands.items[0])}
    i0, i15 = col[0], col[15]
    assert x.dtype == np.float32 and x.flags.c_contiguous and x.shape == (2, len(names))
    np.testing.assert_allclose(f["item_log_pop"], np.log1p(9.0), rtol=1e-6)  # every item has 9 users
    np.testing.assert_allclose(f["user_log_activity"], np.log1p(9.0), rtol=1e-6)
    assert f["genre_cos"][i0] == pytest.approx(1.0) and f["genre_cos"][i15] == pytest.approx(0.0)
    assert f["genre_share_mean"][i0] == pytest.approx(1.0) and f["genre_share_max"][i15] == 0.0
    assert f["item_year"][i0] == 1990 and f["item_year"][i15] == 1991
    assert f["s:rank"][i0] == 1 and f["s:rank"][i15] == 2  # item 0 was listed first
    assert f["s:gap"][i0] == 0 and f["s:gap"][i15] == 1
    assert (f["s:proposed"] == 1).all() and (f["n_sources"] == 1).all()
    assert f["rrf"][i0] == pytest.approx(1 / 61)
    # timestamps increase with (user, item) order: item 15 was last touched later than item 0
    assert f["item_days_since_last"][i15] < f["item_days_since_last"][i0]


def test_vector_and_tag_hooks(blocks):
    ds, _ = blocks
    vectors = np.eye(4, dtype=np.float32)[np.arange(ds.n_items) // 10]  # one axis per block
    tags = sp.csr_matrix(np.eye(4, dtype=np.float32)[np.arange(ds.n_items) // 10])
    fb = FeatureBuilder(last_n=2).fit(ds, item_vectors=vectors, item_tags=tags)
    cands = _block_candidates(ds, [0], [[0, 15]])
    names = fb.feature_names(("s",))
    assert names[-4:] == ["tag_cos", "vec_last_mean", "vec_last_max", "vec_profile"]
    x = fb.transform(cands, fb.user_side(users=[0]))
    col = {int(i): j for j, i in enumerate(cands.items[0])}
    for name in names[-4:]:
        v = x[:, names.index(name)]
        assert v[col[0]] == pytest.approx(1.0) and v[col[15]] == pytest.approx(0.0), name
    # an anonymous history: the last items follow the given order
    side = fb.user_side(sequences=[np.array([11, 25])])
    assert side.last[0].tolist() == [25, 11]
    x = fb.transform(cands, side)
    assert x[col[15], names.index("vec_last_max")] == pytest.approx(1.0)
    assert x[col[15], names.index("vec_last_mean")] == pytest.approx(0.5)


def test_stated_genre_hook_scores_known_users_with_a_profile(blocks):
    ds, _ = blocks
    n_genres = ds.genre_matrix[0].shape[1]
    stated = np.zeros((ds.n_users, n_genres), np.float32)
    stated[0, 0] = 1.0  # user 0's taste profile names genre 0 only; user 1 has no profile
    fb = FeatureBuilder().fit(ds, user_genres=stated)
    names = fb.feature_names(("s",))
    assert names[-1] == "stated_genre_share"
    cands = _block_candidates(ds, [0, 1], [[0, 15], [0, 15]])
    x = fb.transform(cands, fb.user_side(users=[0, 1])).reshape(2, 2, -1)[..., -1]
    g = fb.genres_[[0, 15]]  # (2, G)
    np.testing.assert_allclose(x[0], g[:, 0] / g.sum(1))
    assert np.isnan(x[1]).all()  # no profile: unknown, not "no match"
    anonymous = fb.transform(_block_candidates(ds, [0], [[0]]), fb.user_side(sequences=[np.array([1, 2])]))
    assert np.isnan(anonymous[0, -1])
    with pytest.raises(DataError, match="user_genres"):
        FeatureBuilder().fit(ds, user_genres=stated[:, :1])


def test_empty_history_gives_nan_not_errors(blocks):
    ds, _ = blocks
    fb = FeatureBuilder().fit(ds, item_vectors=np.ones((ds.n_items, 3), np.float32))
    cands = _block_candidates(ds, [0], [[0, 15]])
    x = fb.transform(cands, fb.user_side(sequences=[np.zeros(0, np.int64)]))
    names = fb.feature_names(("s",))
    assert x[0, names.index("user_log_activity")] == 0.0
    assert np.isnan(x[:, names.index("vec_last_mean")]).all()


def test_feature_builder_save_load(blocks, tmp_path):
    ds, _ = blocks
    stated = (np.random.default_rng(1).random((ds.n_users, ds.genre_matrix[0].shape[1])) > 0.7).astype(np.float32)
    fb = FeatureBuilder(last_n=2).fit(ds, item_vectors=np.random.default_rng(0).random((ds.n_items, 4)),
                                      item_tags=sp.eye(ds.n_items, 3, format="csr"), user_genres=stated)
    fb.save(tmp_path / "f.npz")
    fb2 = FeatureBuilder.load(tmp_path / "f.npz")
    cands = _block_candidates(ds, [0, 5], [[0, 15, 3], [1, 2, 39]])
    a = fb.transform(cands, fb.user_side(users=[0, 5]))
    b = fb2.transform(cands, fb2.user_side(users=[0, 5]))
    np.testing.assert_array_equal(a, b)


def test_unfitted_feature_builder_raises():
    with pytest.raises(NotFittedError):
        FeatureBuilder().feature_names(("s",))


# ---- ranker --------------------------------------------------------------------------------------------
def _synthetic(n_groups, size, rng):
    """Relevance is decided by feature 0 alone; features 1-2 are noise."""
    x = rng.normal(size=(n_groups * size, 3)).astype(np.float32)
    y = (x[:, 0] > 1.0).astype(np.float32)
    return x, y, np.full(n_groups, size)


def test_ranker_learns_the_relevant_feature(tmp_path):
    rng = np.random.default_rng(0)
    x, y, g = _synthetic(60, 50, rng)
    vx, vy, vg = _synthetic(20, 50, rng)
    ranker = LambdaRanker(n_estimators=100, min_data_in_leaf=5).fit(x, y, g, valid=(vx, vy, vg),
                                                                    feature_names=["a:x", "b", "c"])
    tx, ty, _ = _synthetic(1, 200, rng)
    scores = ranker.predict(tx)
    top = np.argsort(-scores)[: int(ty.sum())]
    assert ty[top].mean() >= 0.9
    assert next(iter(ranker.feature_importance())) == "a:x"
    assert ranker.best_iteration_ >= 1 and 0 < ranker.valid_ndcg_ <= 1
    ranker.save(tmp_path / "r")
    loaded = LambdaRanker.load(tmp_path / "r")
    np.testing.assert_array_equal(loaded.predict(tx), scores)
    assert loaded.get_params() == ranker.get_params()
    with pytest.raises(ConfigError, match="features"):
        ranker.predict(tx[:, :2])
    (tmp_path / "r" / "model.txt").write_text("tampered")
    with pytest.raises(ArtifactError, match="model.txt"):
        LambdaRanker.load(tmp_path / "r")


def test_ranker_errors():
    with pytest.raises(NotFittedError):
        LambdaRanker().predict(np.zeros((1, 3)))
    with pytest.raises(ConfigError, match="groups"):
        LambdaRanker().fit(np.zeros((4, 2)), np.zeros(4), [3])


def test_ranker_matches_named_columns_by_name():
    import pandas as pd

    rng = np.random.default_rng(0)
    x, y, g = _synthetic(40, 50, rng)
    ranker = LambdaRanker(n_estimators=30, min_data_in_leaf=5).fit(x, y, g, feature_names=["a:x", "b", "c"])
    tx, _, _ = _synthetic(1, 100, rng)
    scores = ranker.predict(tx)
    # named columns: matched by name, whatever their order
    np.testing.assert_array_equal(ranker.predict(tx[:, [2, 0, 1]], feature_names=["c", "a:x", "b"]), scores)
    shuffled = pd.DataFrame(tx[:, [1, 2, 0]], columns=["b", "c", "a:x"])
    np.testing.assert_array_equal(ranker.predict(shuffled), scores)
    np.testing.assert_array_equal(ranker.predict(pd.DataFrame(tx)), scores)  # unnamed columns: training order
    with pytest.raises(ConfigError, match="differ from the DataFrame's own column names"):
        ranker.predict(shuffled, feature_names=["a:x", "b", "c"])
    with pytest.raises(ConfigError, match=r"missing \['c'\], unexpected \['d'\]"):
        ranker.predict(tx, feature_names=["a:x", "b", "d"])
    with pytest.raises(ConfigError, match="2 feature names for 3 columns"):
        ranker.predict(tx, feature_names=["a:x", "b"])
    with pytest.raises(ConfigError, match="2-d"):
        ranker.predict(tx[0])
