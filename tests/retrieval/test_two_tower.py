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


@pytest.mark.parametrize("lazy_adam", [False, True])
def test_cold_item_is_retrieved_for_its_block_through_text(blocks, lazy_adam):
    ds, _ = blocks
    cold = np.array([5, 15, 25, 35])  # one item per block never seen in training
    train = without_items(ds, cold)
    model = TwoTower(genres=False, year=False, lazy_adam=lazy_adam, **SMALL)
    model.fit(train, text_encoder=block_encoder)
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


def _towers(ds, model):
    """Freshly initialised towers for ``model``'s settings on ``ds`` (genres and year as features)."""
    import torch

    from recstrata.retrieval.two_tower.features import categorical_features
    from recstrata.retrieval.two_tower.towers import ItemTower, UserTower

    feats = categorical_features(ds, genres=model.genres, year=model.year)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return feats, ItemTower(ds.n_items, model.dim, 0, feats.shape[1], model.history_ids), \
            UserTower(model.dim, model.attention)


def _full_catalog_loss(torch, model, item_tower, user_tower, X, u, i, feats, hard, rng):
    """The sampled-softmax loss computed over the whole catalog, written out (no ID dropout, no logQ):
    in-batch negatives, accidental hits masked, one hard negative per row as an extra column."""
    from recstrata.retrieval._torch import sparse_tensor

    idx, valid = model._sample_histories(X, u, i, rng)
    target, history = item_tower(torch.ones(X.shape[1]), None, sparse_tensor(feats))  # (N, d) each
    users = user_tower.forward_sampled(torch.from_numpy(idx), torch.from_numpy(valid), history,
                                       user_tower.item_logits(history))
    logits = users @ target[torch.from_numpy(i)].T / model.temperature
    hits = np.asarray(X[u][:, i].todense(), dtype=bool)
    np.fill_diagonal(hits, False)
    logits = logits.masked_fill(torch.from_numpy(hits), float("-inf"))
    picks, _ = model._hard_picks(hard, u, rng)
    extra = (users * target[torch.from_numpy(picks)]).sum(-1) / model.temperature
    return torch.nn.functional.cross_entropy(torch.cat([logits, extra[:, None]], 1), torch.arange(len(u)))


def test_a_step_over_the_batchs_items_equals_the_step_over_the_whole_catalog(blocks):
    """A training step runs the item tower only over the items the batch uses; loss and every gradient
    must equal those of the whole catalog's step."""
    import torch

    from recstrata.retrieval.two_tower.features import hard_negative_matrix

    ds, _ = blocks
    model = TwoTower(text=False, id_dropout=0.0, logq=False, **SMALL)
    feats, item_tower, user_tower = _towers(ds, model)
    X = ds.user_items
    u = np.arange(0, 40, 3)
    i = np.array([X[r].indices[r % 5] for r in u])
    hard = hard_negative_matrix({int(v): [(v // 10 * 10 + 13) % 40] for v in u}, ds.n_users, ds.n_items)
    params = list(item_tower.parameters()) + list(user_tower.parameters())
    subset = model._batch_loss(torch, item_tower, user_tower, X, u, i, np.ones(ds.n_items, bool).__getitem__, None, feats,
                               torch.zeros(ds.n_items), hard, np.random.default_rng(0))
    whole = _full_catalog_loss(torch, model, item_tower, user_tower, X, u, i, feats, hard,
                               np.random.default_rng(0))
    torch.testing.assert_close(subset, whole)
    for a, b in zip(torch.autograd.grad(subset, params), torch.autograd.grad(whole, params), strict=True):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=1e-5)


def test_a_hard_negative_lowers_its_users_score_of_it(blocks):
    """One gradient step with item 13 as every block-0 user's hard negative lowers those users' score of
    item 13 by more than the same step without it (the extra softmax column pushes it down)."""
    import torch

    from recstrata.retrieval._torch import sparse_tensor
    from recstrata.retrieval.two_tower.features import hard_negative_matrix

    ds, _ = blocks
    model = TwoTower(text=False, id_dropout=0.0, **SMALL)
    X = ds.user_items
    u = np.arange(10)
    i = np.array([X[r].indices[0] for r in u])
    drop = {}
    for name, hard in (("without", None),
                       ("with", hard_negative_matrix({int(v): [13] for v in u}, ds.n_users, ds.n_items))):
        feats, item_tower, user_tower = _towers(ds, model)

        def score():
            with torch.no_grad():
                target, history = item_tower(torch.ones(ds.n_items), None, sparse_tensor(feats))
                users = user_tower(sparse_tensor(X[u]), history, user_tower.item_logits(history))
                return (users @ target[13]).mean().item()

        before = score()
        loss = model._batch_loss(torch, item_tower, user_tower, X, u, i, np.ones(ds.n_items, bool).__getitem__, None,
                                 feats, torch.zeros(ds.n_items), hard, np.random.default_rng(0))
        params = list(item_tower.parameters()) + list(user_tower.parameters())
        with torch.no_grad():
            for p, g in zip(params, torch.autograd.grad(loss, params), strict=True):
                p -= 0.05 * g
        drop[name] = before - score()
    assert drop["with"] > drop["without"] + 1e-3


def test_hard_negatives_are_accepted_as_pairs_and_checked(blocks):
    ds, _ = blocks
    pairs = np.array([[u, 10] for u in range(10)])
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
            return model._batch_loss(torch, *towers, X, u, i, np.ones(ds.n_items, bool).__getitem__, None, None,
                                     torch.zeros(ds.n_items), None, np.random.default_rng(0), weights)

    plain = loss(None)
    torch.testing.assert_close(loss(np.full(4, 0.3, np.float32)), plain)
    terms = torch.stack([loss(np.eye(4, dtype=np.float32)[k]) for k in range(4)])
    torch.testing.assert_close(terms.mean(), plain)
    w = np.array([0.2, 1.0, 0.5, 0.8], np.float32)
    torch.testing.assert_close(loss(w), (torch.from_numpy(w) * terms).sum() / w.sum())
