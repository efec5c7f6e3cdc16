"""Two-tower: the shared conformance suite plus known answers for cold items, fold-in and hard negatives."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conformance import RecommenderConformance

pytest.importorskip("torch")

from recstrata.data.dataset import Dataset  # noqa: E402
from recstrata.errors import ConfigError, DataError  # noqa: E402
from recstrata.retrieval.two_tower import TwoTower, tags_to_matrix  # noqa: E402

SMALL = {"dim": 16, "epochs": 30, "batch_size": 64, "learning_rate": 0.01, "temperature": 0.1}


def block_encoder(texts: list[str]) -> np.ndarray:
    """A fake text model: 'Movie 17 ...' -> one-hot of block 17 // 10 (4 blocks), plus a little noise."""
    blocks = np.array([int(re.match(r"Movie (\d+)", t).group(1)) // 10 for t in texts])
    rng = np.random.default_rng(len(texts))
    noise = 0.05 * rng.standard_normal((len(texts), 4)).astype(np.float32)
    return np.eye(4, dtype=np.float32)[blocks] + noise


def without_items(ds: Dataset, items: np.ndarray) -> Dataset:
    keep = ~np.isin(ds.interactions.item, items)
    return ds.with_interactions(ds.interactions.take(keep))


class TestTwoTower(RecommenderConformance):
    make = staticmethod(lambda: TwoTower(text=False, **SMALL))


class TestTwoTowerEnsemble(RecommenderConformance):
    make = staticmethod(lambda: TwoTower(text=False, ensemble=2, **SMALL))


class TestTwoTowerRated(RecommenderConformance):
    make = staticmethod(lambda: TwoTower(text=False, rating_weight=0.5, **SMALL))
    rated = True


@pytest.fixture(scope="module")
def base(blocks):
    return TwoTower(text=False, **SMALL).fit(blocks[0])


def test_cold_item_is_retrieved_for_its_block_through_text(blocks):
    ds, _ = blocks
    cold = np.array([5, 15, 25, 35])  # one item per block never seen in training
    train = without_items(ds, cold)
    model = TwoTower(genres=False, year=False, **SMALL).fit(train, text_encoder=block_encoder)
    ids, _ = model.recommend(np.arange(ds.n_users), k=1, candidates=cold)
    assert (ids[:, 0] == cold[np.arange(ds.n_users) // 10]).mean() >= 0.95


def test_without_content_cold_items_cannot_be_told_apart(blocks):
    ds, _ = blocks
    cold = np.array([5, 15, 25, 35])
    model = TwoTower(text=False, genres=False, year=False, **SMALL).fit(without_items(ds, cold))
    scores = model._score_users(np.arange(ds.n_users))[:, cold]
    np.testing.assert_allclose(scores, scores[:, :1].repeat(4, axis=1), atol=1e-5)  # all cold items alike


def test_new_history_is_folded_in_without_retraining(blocks, base):
    ds, _ = blocks
    model = base
    ids, _ = model.recommend(histories=[[20, 21, 22], [5]], k=5)
    assert all(i // 10 == 2 for i in ids[0]) and all(i // 10 == 0 for i in ids[1])
    v = model.user_vectors(histories=ds.user_items[[3]])
    np.testing.assert_allclose(v, model.user_vectors([3]), rtol=1e-5)


def test_hard_negatives_push_the_item_down(blocks, base):
    ds, _ = blocks
    block0 = np.arange(10)
    others = np.arange(10, 40)  # items of other blocks: all equally irrelevant to block-0 users
    target = 10
    hard = TwoTower(text=False, **SMALL).fit(ds, hard_negatives={int(u): [target] for u in block0})
    beaten_by = {}  # per block-0 user: how many of the 29 other out-of-block items score above the target
    for name, m in (("base", base), ("hard", hard)):
        s = m._score_users(block0)[:, others]
        beaten_by[name] = (s > s[:, :1]).sum(1)
    assert beaten_by["hard"].mean() >= 25  # near the bottom (measured 27-28)
    assert beaten_by["hard"].mean() > beaten_by["base"].mean() + 8  # measured 5-15 without
    # pairs form is accepted and equivalent input
    pairs = np.array([[u, target] for u in block0])
    TwoTower(text=False, **SMALL | {"epochs": 1}).fit(ds, hard_negatives=pairs)
    with pytest.raises(DataError, match="hard_negatives"):
        TwoTower(text=False, **SMALL | {"epochs": 1}).fit(ds, hard_negatives=np.array([[0, ds.n_items]]))


def test_extra_item_features_are_used(blocks):
    ds, _ = blocks
    cold = np.array([5, 15, 25, 35])
    tags, vocab = tags_to_matrix([[f"tag{i // 10}", "movie"] for i in range(ds.n_items)])
    assert vocab == ["movie", "tag0", "tag1", "tag2", "tag3"]
    model = TwoTower(text=False, genres=False, year=False, **SMALL).fit(
        without_items(ds, cold), item_features={"llm_tags": tags})
    ids, _ = model.recommend(np.arange(ds.n_users), k=1, candidates=cold)
    assert (ids[:, 0] == cold[np.arange(ds.n_users) // 10]).mean() >= 0.95
    with pytest.raises(DataError, match="llm_tags"):
        TwoTower(text=False, **SMALL).fit(ds, item_features={"llm_tags": tags[:3]})


def test_item_vectors_export(blocks, base):
    ds, _ = blocks
    v = base.item_vectors()
    assert v.shape == (ds.n_items, 16) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)


def test_ensemble_scores_are_its_members_mean(blocks, base):
    """ensemble=2 = the towers of seeds 2020 and 2021, each trained as it would be alone; the exported
    vectors are their concatenation, so one dot product (one ANN search) scores the members' mean."""
    ds, _ = blocks
    pair = TwoTower(text=False, ensemble=2, **SMALL).fit(ds)
    other = TwoTower(text=False, seed=2021, **SMALL).fit(ds)
    users = np.arange(ds.n_users)
    expected = (base._score_users(users) + other._score_users(users)) / np.sqrt(2)
    np.testing.assert_allclose(pair._score_users(users), expected, atol=1e-5)
    assert pair.item_vectors().shape == (ds.n_items, 32)
    np.testing.assert_allclose(np.linalg.norm(pair.user_vectors(users), axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_ensemble_size_is_checked(blocks, bad):
    with pytest.raises(ConfigError, match=f"ensemble.*{bad!r}"):
        TwoTower(text=False, ensemble=bad, **SMALL).fit(blocks[0])


def test_loading_leaves_the_callers_torch_rng_alone(base, tmp_path):
    from tests_support import assert_load_leaves_torch_rng_alone

    assert_load_leaves_torch_rng_alone(base, tmp_path / "m")


def test_rating_weight_zero_is_the_binary_model_bit_for_bit(rated_blocks, base):
    ds, _ = rated_blocks  # the ratings vary, but b = 0 never reads them
    model = TwoTower(text=False, rating_weight=0.0, **SMALL).fit(ds)
    np.testing.assert_array_equal(model.item_vectors_, base.item_vectors_)
    users = np.arange(ds.n_users)
    np.testing.assert_array_equal(model._score_users(users), base._score_users(users))


def test_rating_weight_pulls_users_toward_their_top_rated_items(blocks, base):
    """Every user rates the first half of their block 5 and the second half 1: weighting the positives
    by rating scores the first half above the second for every user (binary: no systematic gap)."""
    from tests_support import with_ratings

    ds, _ = blocks
    ds = with_ratings(ds, np.where(ds.interactions.item % 10 < 5, 5.0, 1.0).astype(np.float32))
    users = np.arange(ds.n_users)
    first = (users // 10 * 10)[:, None] + np.arange(5)  # (U, 5) each user's top-rated half

    def gap(model):  # (U,) mean score of the top-rated half minus the other half
        s = model._score_users(users)
        return np.take_along_axis(s, first, 1).mean(1) - np.take_along_axis(s, first + 5, 1).mean(1)

    weighted = TwoTower(text=False, rating_weight=1.0, **SMALL).fit(ds)
    assert (gap(weighted) > 0).all()
    assert gap(weighted).mean() > 0.05 > abs(gap(base).mean())


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.5", None, True])
def test_bad_rating_weight_is_named(blocks, bad):
    with pytest.raises(ConfigError, match="rating_weight"):
        TwoTower(text=False, rating_weight=bad, **SMALL).fit(blocks[0])


def test_weighted_batch_loss_is_the_weighted_mean_of_each_pairs_term(blocks):
    """Uniform weights give the binary loss (the step size is kept); in general the loss is
    sum(w * term) / sum(w), each pair's term being its loss alone (one-hot weights)."""
    import torch

    from recstrata.retrieval.two_tower.towers import ItemTower, UserTower

    ds, _ = blocks
    model = TwoTower(text=False, genres=False, year=False, **SMALL)
    X = ds.user_items
    with torch.random.fork_rng():
        torch.manual_seed(0)
        towers = (ItemTower(ds.n_items, model.dim, 0, 0, model.history_ids),
                  UserTower(model.dim, model.attention))
    u = np.array([0, 11, 22, 33])
    i = np.array([X[r].indices[0] for r in u])

    def loss(weights):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return model._batch_loss(torch, *towers, X, u, i, np.ones(ds.n_items, bool), None, None,
                                     torch.zeros(ds.n_items), None, np.random.default_rng(0), weights)

    plain = loss(None)
    torch.testing.assert_close(loss(np.full(4, 0.3, np.float32)), plain)
    terms = torch.stack([loss(np.eye(4, dtype=np.float32)[k]) for k in range(4)])
    torch.testing.assert_close(terms.mean(), plain)
    w = np.array([0.2, 1.0, 0.5, 0.8], np.float32)
    torch.testing.assert_close(loss(w), (torch.from_numpy(w) * terms).sum() / w.sum())
