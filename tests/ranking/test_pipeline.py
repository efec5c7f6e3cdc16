"""The retrieve -> merge -> rank pipeline on the block dataset (known answers)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.sparse as sp

from recstrata.data.dataset import Interactions
from recstrata.errors import ConfigError, NotFittedError
from recstrata.ranking.pipeline import Pipeline
from recstrata.ranking.ranker import LambdaRanker
from recstrata.retrieval.ease import EASE
from recstrata.retrieval.itemknn import ItemKNN
from recstrata.retrieval.popularity import Popularity

pytest.importorskip("lightgbm")


def labels_of(ds, expected):
    """A 'later period' dataset in which every user interacted with their missing block item."""
    users = np.arange(ds.n_users)
    return ds.with_interactions(Interactions.from_arrays(users, expected[users]), "labels")


@pytest.fixture(scope="module")
def fusion(blocks):
    ds, _ = blocks
    return Pipeline({"ease": EASE(reg=1.0), "knn": ItemKNN(k=20)}, n_per_source=5).fit(ds)


@pytest.fixture(scope="module")
def trained(blocks):
    """Popularity cannot tell items apart (every item has 9 users): only the genre features can."""
    ds, expected = blocks
    pipe = Pipeline({"pop": Popularity()}, n_per_source=ds.n_items,
                    ranker=LambdaRanker(n_estimators=60, min_data_in_leaf=5, learning_rate=0.1))
    return pipe.fit(ds).fit_ranker(labels_of(ds, expected), holdout=0.25)


def test_fusion_finds_the_missing_item_and_has_recommender_shapes(fusion, blocks):
    ds, expected = blocks
    ids, scores = fusion.recommend(np.arange(ds.n_users), k=3)
    assert ids.shape == scores.shape == (ds.n_users, 3) and ids.dtype == np.int64
    assert (ids[:, 0] == expected).mean() >= 0.95
    assert np.all(np.diff(scores, axis=1) <= 1e-7)
    seen = ds.user_items
    assert not any(set(ids[u]) & set(seen[u].indices) for u in range(ds.n_users))


def test_trained_ranker_puts_the_relevant_item_first(trained, blocks):
    ds, expected = blocks
    ids, _ = trained.recommend(np.arange(ds.n_users), k=1)
    assert (ids[:, 0] == expected).mean() >= 0.95
    # the ranker beats its input order (popularity ties -> lowest unseen index: right only in block 0)
    pop_ids, _ = trained.sources["pop"].recommend(np.arange(ds.n_users), k=1)
    assert (pop_ids[:, 0] == expected).mean() <= 0.25
    top = next(iter(trained.ranker_.feature_importance()))
    assert top.startswith("genre")
    assert len(trained.ranker_holdout_users_) + len(trained.ranker_train_users_) == ds.n_users


def test_provenance_matches_each_source(fusion, blocks):
    ds, _ = blocks
    users = np.arange(0, ds.n_users, 3)
    out = fusion.recommend_explained(users, k=6)
    per_source = {name: src.recommend(users, k=5)[0] for name, src in fusion.sources.items()}
    for r in range(len(users)):
        for c in range(6):
            item = out.ids[r, c]
            if item < 0:
                continue
            expected_sources = [n for n, ids in per_source.items() if item in ids[r]]
            assert out.sources_of(r, c) == expected_sources
            for j, name in enumerate(out.sources):
                if name in expected_sources:
                    assert out.source_ranks[r, c, j] == list(per_source[name][r]).index(item) + 1


def test_merged_candidates_are_the_deduplicated_union(fusion, blocks):
    ds, _ = blocks
    cands = fusion.retrieve([4, 17])
    for r, u in enumerate([4, 17]):
        union = set()
        for src in fusion.sources.values():
            union |= set(src.recommend([u], k=5)[0][0]) - {-1}
        got = cands.items[r][cands.valid[r]]
        assert len(got) == len(set(got)) and set(got) == union


def test_filters_apply_inside_retrieval(fusion, blocks):
    ds, expected = blocks
    # an allow-list of out-of-block items: none is in any source's top 5, yet k come back
    allow = np.arange(20, 40)
    ids, _ = fusion.recommend([0], k=4, candidates=allow)
    assert (ids[0] >= 0).all() and set(ids[0]) <= set(allow)
    excl = sp.csr_matrix(([1.0], ([0], [expected[0]])), shape=(1, ds.n_items))
    ids, _ = fusion.recommend([0], k=4, exclude=excl)
    assert expected[0] not in ids[0] and (ids[0] >= 0).all()


def test_histories_unknown_user_and_padding(trained, fusion, blocks):
    ds, expected = blocks
    for pipe in (fusion, trained):
        ids, _ = pipe.recommend(histories=[ds.user_items[3].indices], k=1)
        assert ids[0, 0] == expected[3]
        ids, scores = pipe.recommend(histories=[[]], k=3)  # a brand-new user
        assert ids.shape == (1, 3) and (ids >= 0).all() and np.isfinite(scores).all()
    ids, scores = fusion.recommend([0], k=4, candidates=[1, 2, 0])  # user 0 has seen 1 and 2
    assert ids[0].tolist() == [0, -1, -1, -1] and np.isneginf(scores[0, 1:]).all()


def test_save_load_round_trip_is_identical(trained, fusion, blocks, tmp_path):
    ds, _ = blocks
    users = np.arange(ds.n_users)
    for i, pipe in enumerate((trained, fusion)):
        pipe.save(tmp_path / f"p{i}")
        loaded = Pipeline.load(tmp_path / f"p{i}")
        a, b = pipe.recommend_explained(users, k=5), loaded.recommend_explained(users, k=5)
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.proposed, b.proposed)
        assert loaded.feature_names() == pipe.feature_names()


def test_a_ranked_pipeline_keeps_its_sources_order_through_save_and_load(blocks, tmp_path):
    """The ranker's feature columns follow the sources' order; the manifest's mapping comes back
    sorted by name, so "pop" before "ease" used to load as "ease" before "pop": shuffled columns and
    another ranking, with no error. Older artefacts (no ``source_order``) recover it from the ranker's
    feature names; a ranker that does not match the pipeline's features is refused."""
    import json

    from recstrata.errors import ArtifactError

    ds, expected = blocks
    pipe = Pipeline({"pop": Popularity(), "ease": EASE(reg=1.0)}, n_per_source=10,
                    ranker=LambdaRanker(n_estimators=30, min_data_in_leaf=5, learning_rate=0.1))
    pipe.fit(ds).fit_ranker(labels_of(ds, expected), holdout=0.25)
    users = np.arange(ds.n_users)
    want = pipe.recommend_explained(users, k=5)
    pipe.save(tmp_path / "p")
    manifest_path = tmp_path / "p" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert list(manifest["sources"]) == ["ease", "pop"] and manifest["source_order"] == ["pop", "ease"]

    def loaded_scores():
        got = Pipeline.load(tmp_path / "p")
        assert list(got.sources) == ["pop", "ease"]
        out = got.recommend_explained(users, k=5)
        np.testing.assert_array_equal(out.ids, want.ids)
        np.testing.assert_array_equal(out.scores, want.scores)

    loaded_scores()
    manifest.pop("source_order")  # an artefact written before the order was kept
    manifest_path.write_text(json.dumps(manifest))
    loaded_scores()
    ranker_manifest = tmp_path / "p" / "ranker" / "manifest.json"
    ranker = json.loads(ranker_manifest.read_text())
    ranker["feature_names"] = ranker["feature_names"][::-1]
    ranker_manifest.write_text(json.dumps(ranker))
    with pytest.raises(ArtifactError, match="retrain and publish it again"):
        Pipeline.load(tmp_path / "p")


def test_evaluate_accepts_a_pipeline(fusion, blocks):
    from recstrata.data.split import Split
    from recstrata.evaluation import evaluate

    ds, expected = blocks
    labels = labels_of(ds, expected)
    split = Split("hand-made", train=ds, valid=labels, test=labels)
    result = evaluate(fusion, split, "valid", ks=[1], beyond_accuracy=False, group_by=[])
    assert result.metrics["hit@1"] >= 0.95


def test_errors(blocks):
    ds, _ = blocks
    with pytest.raises(NotFittedError):
        Pipeline({"pop": Popularity()}).recommend([0], k=1)
    with pytest.raises(ConfigError, match="vector_source"):
        Pipeline({"pop": Popularity()}, vector_source="als").fit(ds)
    with pytest.raises(ConfigError, match="n_per_source"):
        Pipeline({"pop": Popularity()}, n_per_source={"other": 3}).fit(ds)
    pipe = Pipeline({"pop": Popularity()}).fit(ds)
    with pytest.raises(ConfigError, match="k"):
        pipe.recommend([0], k=0)
    with pytest.raises(ConfigError, match="ranker"):
        pipe.fit_ranker(ds)


def test_cross_fitted_ranker_scores_every_user_out_of_fold(blocks):
    ds, expected = blocks
    pipe = Pipeline({"pop": Popularity()}, n_per_source=ds.n_items,
                    ranker=LambdaRanker(n_estimators=40, min_data_in_leaf=5, learning_rate=0.1))
    pipe.fit(ds).fit_ranker(labels_of(ds, expected), folds=4)
    assert sorted(pipe.ranker_valid_users_) == list(range(ds.n_users))
    assert len(pipe.ranker_fold_iterations_) == 4
    assert pipe.ranker_valid_ndcg_ >= 0.9  # out-of-fold: each user ranked by a model that never saw them
    assert (pipe.ranker_valid_ranked_[:, 0] == expected[pipe.ranker_valid_users_]).mean() >= 0.9
    ids, _ = pipe.recommend(np.arange(ds.n_users), k=1)
    assert (ids[:, 0] == expected).mean() >= 0.95
    with pytest.raises(ConfigError, match="folds"):
        pipe.fit_ranker(labels_of(ds, expected), folds=1)


class RecordingRanker(LambdaRanker):
    """Remembers, per fit, how many groups it trained and early-stopped on."""

    fits: list[tuple[int, int]] = []

    def fit(self, x, y, groups, *, valid=None, feature_names=None):
        RecordingRanker.fits.append((len(groups), 0 if valid is None else len(valid[2])))
        return super().fit(x, y, groups, valid=valid, feature_names=feature_names)


def test_cross_fitting_never_early_stops_on_the_users_it_scores(blocks):
    ds, expected = blocks
    RecordingRanker.fits = []
    pipe = Pipeline({"pop": Popularity()}, n_per_source=ds.n_items,
                    ranker=RecordingRanker(n_estimators=20, min_data_in_leaf=5, learning_rate=0.1))
    pipe.fit(ds).fit_ranker(labels_of(ds, expected), folds=4, holdout=0.25)
    per_fold = RecordingRanker.fits[:4]  # then one final fit on every user, without a stopping set
    assert all(stop > 0 for _, stop in per_fold)
    # train + stop groups come from the 3 other folds only (30 of the 40 users), never the scored fold
    assert [train + stop for train, stop in per_fold] == [30] * 4
    assert RecordingRanker.fits[4] == (ds.n_users, 0)


class _Counting:
    """A source double that counts the requests it answers (everything else goes to the wrapped source)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def fit(self, dataset):
        self.inner.fit(dataset)
        return self

    def recommend(self, *args, **kwargs):
        self.calls += 1
        return self.inner.recommend(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_sources_weighted_0_are_not_queried_and_no_answer_changes(blocks):
    ds, _ = blocks
    knn, pop = _Counting(ItemKNN(k=20)), _Counting(Popularity())
    pipe = Pipeline({"knn": knn, "ease": EASE(reg=1.0), "pop": pop}, n_per_source={"knn": 5, "ease": 3, "pop": 10},
                    fusion_weights={"ease": 1.0, "knn": 0.0, "pop": 0.0}).fit(ds)
    every = copy.copy(pipe)
    every.unqueried_sources = lambda: ()  # the reference: every source queried
    users = np.arange(ds.n_users)
    assert pipe.unqueried_sources() == ("knn", "pop")
    # k within what EASE proposes (3 each): the weight-0 sources are never asked, same ids and scores
    for kwargs in ({}, {"candidates": np.arange(0, 40, 2)}, {"histories": [[0, 1], []]}):
        who = {} if "histories" in kwargs else {"users": users}
        knn.calls = pop.calls = 0
        a = pipe.recommend_explained(**who, k=3, **kwargs)
        assert knn.calls == pop.calls == 0
        b = every.recommend_explained(**who, k=3, **kwargs)  # (shares the source objects: counted too)
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.scores, b.scores)
        unasked = [0, 2]  # no provenance from the sources not asked
        assert not a.proposed[..., unasked].any() and b.proposed[..., unasked].any()
    # k beyond EASE's 3: only the weight-0 sources can fill the tail, so they are asked after all
    knn.calls = pop.calls = 0
    a = pipe.recommend_explained(users, k=8)
    assert knn.calls == pop.calls == 1 and (a.ids >= 0).all() and a.proposed[..., 2].any()
    b = every.recommend_explained(users, k=8)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    # only the short rows ask them, each source once per batch: a row's answer and provenance do
    # not depend on the other users of its batch
    ease = _Counting(pipe.sources["ease"])
    pipe.sources["ease"] = ease
    excl = sp.lil_matrix((2, ds.n_items), dtype=np.float32)
    excl[1, 2:] = 1  # user 1 may get items 0 and 1 only: EASE proposes fewer than 3
    knn.calls = pop.calls = 0
    both = pipe.recommend_explained([0, 1], k=3, exclude=excl.tocsr())
    assert ease.calls == knn.calls == pop.calls == 1
    alone = pipe.recommend_explained([0], k=3)
    np.testing.assert_array_equal(both.proposed[:1], alone.proposed)
    np.testing.assert_array_equal(both.ids[:1], alone.ids)
    ref = every.recommend_explained([0, 1], k=3, exclude=excl.tocsr())
    np.testing.assert_array_equal(both.ids, ref.ids)
    np.testing.assert_array_equal(both.scores, ref.scores)
    np.testing.assert_array_equal(both.proposed[1], ref.proposed[1])  # the short row asked everyone
    pipe.sources["ease"] = ease.inner
    # they stay fitted for what they still serve: similar items come from the first source (knn)
    np.testing.assert_array_equal(pipe.similar_items([3], k=4)[0], knn.inner.similar_items([3], k=4)[0])
    # nothing is left out when a ranker orders the candidates (it reads every source's features),
    # when no weights are set, or when every weight is 0
    assert Pipeline({"ease": EASE(reg=1.0)}, fusion_weights={"ease": 0.0}).unqueried_sources() == ()
    ranked = copy.copy(pipe)
    ranked.ranker_ = object()
    assert ranked.unqueried_sources() == () and Pipeline({"ease": EASE(reg=1.0)}).unqueried_sources() == ()
    # a weight too small for float32 scores its items 0, like a skipped source's: nothing skipped
    tiny = copy.copy(pipe)
    tiny.fusion_weights = {"ease": 1e-50, "knn": 0.0, "pop": 1.0}
    assert tiny.unqueried_sources() == ()


@pytest.mark.parametrize("weights, k, message", [
    ({"ease": -1.0}, 60.0, "numbers >= 0"), ({"ease": 1.0}, -5.0, "numbers >= 0"),
    ({"ease": "1"}, 60.0, "numbers >= 0"), ({"eas": 1.0}, 60.0, r"source\(s\) \['eas'\]")])
def test_hand_set_fusion_weights_are_checked(blocks, weights, k, message):
    ds, _ = blocks
    with pytest.raises(ConfigError, match=message):
        Pipeline({"ease": EASE(reg=1.0), "pop": Popularity()}, fusion_weights=weights, fusion_k=k).fit(ds)
