"""VectorRetriever: the shared conformance suite plus known answers against the base model's dense scores."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conformance import RecommenderConformance

pytest.importorskip("faiss")
pytest.importorskip("implicit")

from recstrata.errors import ArtifactError, ConfigError  # noqa: E402
from recstrata.retrieval.als import ALS  # noqa: E402
from recstrata.retrieval.base import Recommender  # noqa: E402
from recstrata.retrieval.bpr import BPR  # noqa: E402
from recstrata.retrieval.ease import EASE  # noqa: E402
from recstrata.retrieval.registry import make_model  # noqa: E402
from recstrata.retrieval.vector import VectorRetriever  # noqa: E402

ALS_SMALL = {"factors": 8, "iterations": 20, "regularization": 0.01}


class _Conformance(RecommenderConformance):
    def test_corrupt_artifact_is_detected(self, fitted, tmp_path):
        path = fitted.save(tmp_path / "m")
        for target in (path / "base" / "seen.npz", path / "index" / "ids.npy"):
            good = target.read_bytes()
            data = bytearray(good)
            data[len(data) // 2] ^= 0xFF
            target.write_bytes(bytes(data))
            with pytest.raises(ArtifactError, match=target.name):
                Recommender.load(path)
            target.write_bytes(good)
        Recommender.load(path)  # intact again


class TestExactIndexOverALS(_Conformance):
    make = staticmethod(lambda: VectorRetriever(base="als", base_params=ALS_SMALL, index="exact"))


class TestSQ8IndexOverALS(_Conformance):
    make = staticmethod(lambda: VectorRetriever(base="als", base_params=ALS_SMALL))


# ---- known answers on a catalog with structure ----------------------------------------------------
@pytest.fixture(scope="module")
def clustered():
    """300 users in 6 taste clusters over 600 items with popularity skew: distinct, non-tied scores."""
    from tests_support import tiny_dataset

    rng = np.random.default_rng(7)
    n_items, histories = 600, []
    pop = 1.0 / np.arange(1, 101) ** 0.8
    for u in range(300):
        c = u % 6
        items = c * 100 + rng.choice(100, size=rng.integers(5, 25), replace=False, p=pop / pop.sum())
        histories.append(sorted(items.tolist()))
    return tiny_dataset(histories, n_items=n_items)


@pytest.fixture(scope="module")
def als_pair(clustered):
    base = ALS(factors=16, iterations=10).fit(clustered)
    return base, VectorRetriever.wrap(base, index="exact")


def _assert_same_lists(a, b):
    np.testing.assert_allclose(a[1], b[1], rtol=1e-4, atol=1e-5)
    # ids agree except where two scores tie to float precision
    differ = a[0] != b[0]
    assert differ.mean() < 0.01
    np.testing.assert_allclose(a[1][differ], b[1][differ], rtol=1e-4, atol=1e-5)


def test_exact_index_equals_dense_recommendations(als_pair, clustered):
    base, ann = als_pair
    users = np.arange(clustered.n_users)
    _assert_same_lists(ann.recommend(users, k=20), base.recommend(users, k=20))
    hists = [clustered.user_items[u].indices[:3] for u in range(0, 300, 7)]
    _assert_same_lists(ann.recommend(histories=hists, k=10), base.recommend(histories=hists, k=10))


def test_sq8_recall_against_dense(clustered):
    base = ALS(factors=16, iterations=10).fit(clustered)
    ann = VectorRetriever.wrap(base)  # default kind
    users = np.arange(clustered.n_users)
    got, want = ann.recommend(users, k=10)[0], base.recommend(users, k=10)[0]
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want, strict=True)])
    assert recall >= 0.95


def test_allow_list_and_exclusions_are_applied_inside_the_search(als_pair, clustered):
    base, ann = als_pair
    u = 0  # cluster 0: items 0..99 score high; allow only items of another cluster, plus some it has seen
    seen = clustered.user_items[u].indices
    allow = np.concatenate([np.arange(300, 330), seen])
    excl_items = np.array([300, 301, 302])
    excl = sp.csr_matrix((np.ones(3), ([0, 0, 0], excl_items)), shape=(1, clustered.n_items))
    ids, scores = ann.recommend([u], k=20, candidates=allow, exclude=excl)
    assert (ids[0] >= 0).all() and np.isfinite(scores).all()  # k items: 27 are eligible
    assert set(ids[0]) <= set(range(303, 330))
    _assert_same_lists((ids, scores), base.recommend([u], k=20, candidates=allow, exclude=excl))
    # only 5 eligible: 5 items then padding, never a seen or excluded one
    ids, scores = ann.recommend([u], k=8, candidates=np.concatenate([seen, np.arange(300, 308)]), exclude=excl)
    assert sorted(ids[0, :5]) == list(range(303, 308)) and list(ids[0, 5:]) == [-1, -1, -1]


def test_histories_use_the_fold_in(als_pair, clustered):
    base, ann = als_pair
    hist = sp.csr_matrix(clustered.user_items[:5])
    np.testing.assert_allclose(ann.query_vectors(histories=hist), base._fold_in(hist), rtol=1e-6)
    np.testing.assert_allclose(ann.query_vectors([1, 2]), base.user_factors_[[1, 2]])


@pytest.mark.parametrize("make_base", [lambda: ALS(**ALS_SMALL), lambda: BPR(factors=8, iterations=50)])
def test_query_vectors_reproduce_the_base_scores(make_base, blocks):
    ds, _ = blocks
    base = make_base().fit(ds)
    items = base.item_vectors()
    np.testing.assert_allclose(base.query_vectors([0, 5]) @ items.T, base._score_users(np.array([0, 5])),
                               rtol=1e-5, atol=1e-5)
    hist = ds.user_items[[1, 2]]
    np.testing.assert_allclose(base.query_vectors(histories=hist) @ items.T, base._score_histories(hist),
                               rtol=1e-5, atol=1e-5)


def test_lightgcn_and_two_tower_have_query_vectors(blocks):
    pytest.importorskip("torch")
    from recstrata.retrieval.lightgcn import LightGCN
    from recstrata.retrieval.two_tower import TwoTower

    ds, _ = blocks
    hist = ds.user_items[[1, 2]]
    for base in (LightGCN(dim=8, layers=2, epochs=2), TwoTower(text=False, dim=8, epochs=1, batch_size=64)):
        base.fit(ds)
        items = base.item_vectors()
        np.testing.assert_allclose(base.query_vectors([0, 5]) @ items.T, base._score_users(np.array([0, 5])),
                                   rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(base.query_vectors(histories=hist) @ items.T, base._score_histories(hist),
                                   rtol=1e-4, atol=1e-5)
        ann = VectorRetriever.wrap(base, index="exact")
        assert ann.recommend([0], k=3)[0].shape == (1, 3)


def test_registry_name_and_params(blocks):
    model = make_model("ann", base="als", base_params=ALS_SMALL, index="exact")
    assert isinstance(model, VectorRetriever)
    assert model.fit(blocks[0]).get_params() == {"base": "als", "base_params": ALS_SMALL, "index": "exact",
                                                 "index_params": None}
    assert isinstance(model.base_, ALS)


def test_models_without_vectors_are_refused_with_the_remedy(blocks):
    with pytest.raises(ConfigError, match="vector model"):
        VectorRetriever.wrap(EASE(reg=1.0).fit(blocks[0]))
    with pytest.raises(ConfigError, match="base='als'"):
        VectorRetriever(base="ann").fit(blocks[0])
    with pytest.raises(ConfigError, match="unknown index kind"):
        VectorRetriever(base="als", base_params=ALS_SMALL, index="nope").fit(blocks[0])


def test_swapped_part_is_detected(als_pair, clustered, tmp_path):
    import shutil

    _, ann = als_pair
    a = ann.save(tmp_path / "a")
    b = VectorRetriever.wrap(ALS(factors=16, iterations=2).fit(clustered)).save(tmp_path / "b")
    shutil.rmtree(a / "index")
    shutil.copytree(b / "index", a / "index")
    with pytest.raises(ArtifactError, match="index"):
        Recommender.load(a)


def test_als_fold_in_gram_cache_follows_the_item_factors(clustered):
    model = ALS(factors=8, iterations=3).fit(clustered)
    hist = sp.csr_matrix(clustered.user_items[:3])
    first = model._fold_in(hist)
    model.item_factors_ = model.item_factors_ * 2  # a new array (as fit / load would set): cache must not apply
    y = model.item_factors_.astype(np.float64)
    np.testing.assert_allclose(model._gram(), y.T @ y, rtol=1e-10)
    assert not np.allclose(model._fold_in(hist), first)


def test_equal_norm_keeps_inner_products_and_equalises_norms():
    from recstrata.retrieval.vector import equal_norm

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 8)).astype(np.float32) * rng.uniform(0.1, 5, size=(50, 1)).astype(np.float32)
    q = rng.normal(size=(4, 8)).astype(np.float32)
    aug = equal_norm(x)
    norms = np.linalg.norm(aug, axis=1)
    np.testing.assert_allclose(norms, norms.max(), rtol=1e-5)
    np.testing.assert_allclose(np.hstack([q, np.zeros((4, 1), np.float32)]) @ aug.T, q @ x.T, rtol=1e-4, atol=1e-4)


def test_partition_indexes_search_unequal_norm_vectors_after_augmentation():
    from recstrata.retrieval.ann import make_index, recall_of
    from recstrata.retrieval.vector import equal_norm

    rng = np.random.default_rng(1)
    n, d = 20_000, 16
    x = (rng.normal(size=(n, d)) * rng.lognormal(0, 0.8, size=(n, 1))).astype(np.float32)  # long and short
    q = rng.normal(size=(200, d)).astype(np.float32)
    want = np.argsort(-(q @ x.T), axis=1)[:, :10]
    recall = {}
    for name, vectors, queries in (("plain", x, q), ("augmented", equal_norm(x),
                                                      np.hstack([q, np.zeros((200, 1), np.float32)]))):
        got, _ = make_index("ivf:nprobe=32").build(vectors).search(queries, 10)
        recall[name] = float(recall_of(got, want).mean())
    assert recall["augmented"] >= recall["plain"] + 0.2, recall


def test_index_spec_strings_carry_parameters():
    from recstrata.errors import ConfigError
    from recstrata.retrieval.ann import make_index, parse_index_spec

    assert parse_index_spec("ivf:nprobe=128,shards=2") == ("ivf", {"nprobe": 128, "shards": 2})
    assert make_index("ivf:nprobe=16").nprobe == 16
    with pytest.raises(ConfigError, match="kind:param=value"):
        parse_index_spec("ivf:nprobe")
