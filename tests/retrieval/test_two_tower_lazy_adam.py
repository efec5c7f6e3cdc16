"""Two-tower with lazy (row-sparse) Adam for its ID tables: the conformance suite with the option on,
and known answers on single steps: which rows move, by how much, and what dense AdamW does instead."""

from __future__ import annotations

import numpy as np
import pytest
from conformance import RecommenderConformance

torch = pytest.importorskip("torch")

from recstrata.errors import ConfigError  # noqa: E402
from recstrata.retrieval.base import Recommender  # noqa: E402
from recstrata.retrieval.two_tower import TwoTower  # noqa: E402

SMALL = {"dim": 16, "epochs": 30, "batch_size": 64, "learning_rate": 0.01, "temperature": 0.1}
STEP = SMALL | {"text": False, "genres": False, "year": False, "id_dropout": 0.0}  # ID embeddings only


class TestTwoTowerLazyAdam(RecommenderConformance):
    make = staticmethod(lambda: TwoTower(text=False, lazy_adam=True, **SMALL))


def _setup(ds, model):
    """Fresh towers (seed 0, the same for both optimisers) and ``model``'s optimiser over them."""
    from recstrata.retrieval.two_tower.optim import tower_optimiser
    from recstrata.retrieval.two_tower.towers import ItemTower, UserTower

    with torch.random.fork_rng():
        torch.manual_seed(0)
        item = ItemTower(ds.n_items, model.dim, 0, 0, model.history_ids, sparse=model.lazy_adam)
        user = UserTower(model.dim, model.attention)
    return item, user, tower_optimiser(item, user, model.learning_rate, model.weight_decay, model.lazy_adam)


def _tables(towers) -> list[torch.Tensor]:
    return [towers[0].ids.weight.detach().clone(), towers[0].history_ids.weight.detach().clone()]


def _step(model, towers, ds, u, keep=None):
    """One training step on users ``u`` (user r's target: its (r % 9)-th item, so block mates' targets
    differ): the rows it looked up (targets and sampled histories) and each ID table's gradient, dense.
    A looked-up row can have a zero gradient (a target in no pooled history has none in history_ids)."""
    item, user, opt = towers
    X = ds.user_items
    i = np.array([X[r].indices[r % 9] for r in u])
    keep = np.ones(ds.n_items, bool) if keep is None else keep
    loss = model._batch_loss(torch, item, user, X, u, i, keep.__getitem__, None, None, torch.zeros(ds.n_items),
                             None, np.random.default_rng(0))
    opt.zero_grad()
    loss.backward()
    grads = [t.weight.grad.to_dense().clone() for t in (item.ids, item.history_ids)]
    opt.step()
    idx, _ = model._sample_histories(X, u, i, np.random.default_rng(0))  # the same draw as the step's
    return np.unique(np.concatenate([i, idx.ravel()])), grads


def test_lazy_adam_moves_only_the_rows_a_step_used_and_dense_momentum_moves_the_others(blocks):
    """Step 1 uses block 0's rows, step 2 block 2's. Both optimisers move exactly the rows with a
    non-zero gradient at step 1 (no weight decay: zero moments, zero step), so every unused row stays
    bit for bit. At step 2, dense AdamW's momentum moves block 0's rows again although the step did
    not use them; lazy Adam leaves them alone."""
    ds, _ = blocks
    out = {}
    for lazy in (False, True):
        model = TwoTower(lazy_adam=lazy, **STEP)
        towers = _setup(ds, model)
        before = _tables(towers)
        first, grads = _step(model, towers, ds, np.arange(5))
        after1 = _tables(towers)
        second, _ = _step(model, towers, ds, np.arange(20, 25))
        out[lazy] = before, after1, _tables(towers), grads
    assert set(first) <= set(range(10)) and set(second) <= set(range(20, 30))
    for lazy, (before, after1, after2, grads) in out.items():
        for b, a1, a2, g in zip(before, after1, after2, grads, strict=True):
            active = g.any(dim=1)  # (N,) rows with a non-zero gradient at step 1
            assert active.sum() >= 8 and not active[len(first):].any()
            assert torch.equal((a1 != b).any(dim=1), active)  # step 1: the same rows move
            moved = (a2[:10] != a1[:10]).any(dim=1)  # step 2 on block 0's rows
            assert not moved.any() if lazy else torch.equal(moved, active[:10])


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_first_lazy_step_on_used_rows_is_adams_first_step(blocks, weight_decay):
    """Adam's first step is ``lr * g / (|g| + eps')`` after decoupled decay ``w * (1 - lr * wd)``:
    eps' = eps for AdamW, eps / sqrt(1 - beta2) for SparseAdam (it adds eps before the bias
    correction). Both hold on the used rows; with weight decay, lazy leaves the unused rows alone
    where AdamW shrinks every one of them."""
    ds, _ = blocks
    lr, eps = SMALL["learning_rate"], 1e-8
    updates = {}
    for lazy, eps_t in ((False, eps), (True, eps / np.sqrt(1 - 0.999))):
        model = TwoTower(lazy_adam=lazy, weight_decay=weight_decay, **STEP)
        towers = _setup(ds, model)
        before = _tables(towers)
        used, grads = _step(model, towers, ds, np.arange(0, 20, 2))  # users of some blocks only
        unused = np.setdiff1d(np.arange(ds.n_items), used)
        assert len(unused) >= 10  # rows that must not shrink under lazy Adam (and do under AdamW)
        for b, a, g in zip(before, _tables(towers), grads, strict=True):
            expected = b[used] * (1 - lr * weight_decay) - lr * g[used] / (g[used].abs() + eps_t)
            torch.testing.assert_close(a[used], expected, rtol=1e-6, atol=1e-8)
            shrunk = b[unused] * (1 - lr * weight_decay) if not lazy else b[unused]
            assert torch.equal(a[unused], shrunk)
            assert not g[unused].any()
        updates[lazy] = [(a[used] - b[used], g[used]) for b, a, g in zip(before, _tables(towers), grads,
                                                                         strict=True)]
    for (dense, g), (lazy, _) in zip(updates[False], updates[True], strict=True):
        big = g.abs() > 1e-4  # where eps' is negligible against |g| the two steps agree
        assert big.float().mean() > 0.9
        torch.testing.assert_close(lazy[big], dense[big], rtol=5e-3, atol=0)


def test_lazy_adam_leaves_a_dropped_id_alone(blocks):
    """An ID dropped this step (keep False) is not looked up in the sparse table: out of the gradient,
    its row and its moments are untouched although the step used the item."""
    ds, _ = blocks
    model = TwoTower(lazy_adam=True, **STEP)
    towers = _setup(ds, model)
    _, first = _step(model, towers, ds, np.arange(5))  # gives block 0's rows non-zero moments
    before = _tables(towers)
    keep = np.ones(ds.n_items, bool)
    keep[3] = False
    used, grads = _step(model, towers, ds, np.arange(5), keep)
    assert 3 in used
    for b, a, g, g1 in zip(before, _tables(towers), grads, first, strict=True):
        assert g1[3].any() and not g[3].any()
        assert torch.equal(a[3], b[3])  # with moments from step 1, yet not moved
        moving = g1.any(dim=1) | g.any(dim=1)
        moving[3] = False
        assert torch.equal((a != b).any(dim=1), moving)  # every other row with moments moves
    assert 3 not in towers[0].ids.weight.grad.coalesce().indices()[0].tolist()


def test_the_sparse_item_tower_computes_the_same_vectors(blocks):
    """Only the optimiser differs: with an ID mask, the sparse tables' look-up of the kept rows gives
    the dense tables' item vectors bit for bit."""
    ds, _ = blocks
    rows = torch.arange(3, 30, 2)
    keep = torch.from_numpy((np.arange(len(rows)) % 3 != 0).astype(np.float32))
    out = [_setup(ds, TwoTower(lazy_adam=lazy, **STEP))[0](keep, None, None, rows) for lazy in (False, True)]
    for dense, sparse in zip(*out, strict=True):
        assert torch.equal(dense, sparse)


@pytest.mark.parametrize("bad", [1, 0, "yes", np.True_])
def test_bad_lazy_adam_is_named(blocks, bad):
    with pytest.raises(ConfigError, match=f"lazy_adam.*{bad!r}"):
        TwoTower(text=False, lazy_adam=bad, **SMALL | {"epochs": 1}).fit(blocks[0])


def test_the_default_picks_lazy_adam_from_a_catalog_size_on(blocks, monkeypatch, tmp_path):
    """``lazy_adam=None`` (the default) trains exactly as ``False`` below ``LAZY_ADAM_FROM_ITEMS``
    items and exactly as ``True`` from it on."""
    import recstrata.retrieval.two_tower.model as module

    ds, _ = blocks
    params = {"text": False, **SMALL, "epochs": 3}
    vectors = {flag: TwoTower(lazy_adam=flag, **params).fit(ds).item_vectors_ for flag in (False, True)}
    assert not np.array_equal(vectors[False], vectors[True])
    assert TwoTower().lazy_adam is None
    for threshold, expected in ((ds.n_items + 1, False), (ds.n_items, True)):
        monkeypatch.setattr(module, "LAZY_ADAM_FROM_ITEMS", threshold)
        auto = TwoTower(**params).fit(ds)
        np.testing.assert_array_equal(auto.item_vectors_, vectors[expected])
        assert auto.lazy_adam_ is expected  # the choice made is kept, and saved
        auto.save(tmp_path / str(threshold))
        assert Recommender.load(tmp_path / str(threshold)).lazy_adam_ is expected


def test_an_artefact_saved_before_the_option_loads_and_refits_with_adamw(blocks, monkeypatch, tmp_path):
    """Artefacts written before ``lazy_adam`` existed (f798134) have no ``lazy_adam`` parameter in
    their manifest and no ``lazy_adam`` choice in state.npz; they were trained with AdamW. One loads
    as ``lazy_adam_ = False``, recommends as saved, and refits with AdamW - the very vectors - even
    where the default would now pick lazy Adam."""
    import recstrata.retrieval.two_tower.model as module
    from recstrata.artifacts import load_arrays, read_manifest, save_arrays, write_manifest
    from recstrata.retrieval.two_tower import optim

    ds, _ = blocks
    monkeypatch.setattr(module, "LAZY_ADAM_FROM_ITEMS", ds.n_items)  # the default: lazy Adam on these blocks
    model = TwoTower(text=False, lazy_adam=False, **SMALL | {"epochs": 3}).fit(ds)
    old = model.save(tmp_path / "old")
    manifest = read_manifest(old)
    state = load_arrays(old / "state.npz")
    del state["lazy_adam"]
    save_arrays(old / "state.npz", **state)
    params = {k: v for k, v in manifest["params"].items() if k != "lazy_adam"}
    write_manifest(old, kind="recommender", params=params, extra={"model": manifest["model"]})  # fresh hashes
    assert "lazy_adam" not in read_manifest(old)["params"]  # and every file passes its check

    loaded = Recommender.load(old)
    assert loaded.lazy_adam is False and loaded.lazy_adam_ is False
    users = np.arange(ds.n_users)
    for got, want in zip(loaded.recommend(users, k=5), model.recommend(users, k=5), strict=True):
        np.testing.assert_array_equal(got, want)
    made = []
    original = optim.tower_optimiser

    def spy(*args):
        made.append(original(*args))
        return made[-1]

    monkeypatch.setattr(optim, "tower_optimiser", spy)
    loaded.fit(ds)
    assert [type(opt) for opt in made] == [torch.optim.AdamW] and loaded.lazy_adam_ is False
    np.testing.assert_array_equal(loaded.item_vectors_, model.item_vectors_)


@pytest.mark.parametrize("param, expected", [(True, True), (False, False), (None, True)])
def test_a_choice_missing_from_the_state_follows_the_saved_parameter(blocks, monkeypatch, tmp_path, param, expected):
    """Artefacts of the option's first commits saved the parameter but not the choice made: the
    parameter decides, and None the catalog-size rule in force when loading."""
    import recstrata.retrieval.two_tower.model as module
    from recstrata.artifacts import load_arrays, read_manifest, save_arrays, write_manifest

    ds, _ = blocks
    monkeypatch.setattr(module, "LAZY_ADAM_FROM_ITEMS", ds.n_items)  # None means lazy on these blocks
    saved = TwoTower(text=False, lazy_adam=param, **SMALL | {"epochs": 1}).fit(ds).save(tmp_path / "m")
    manifest = read_manifest(saved)
    state = load_arrays(saved / "state.npz")
    del state["lazy_adam"]
    save_arrays(saved / "state.npz", **state)
    write_manifest(saved, kind="recommender", params=manifest["params"], extra={"model": manifest["model"]})
    assert Recommender.load(saved).lazy_adam_ is expected


def test_id_dropout_mask_is_drawn_for_the_whole_catalog_with_adamw_and_for_the_step_rows_with_lazy_adam():
    """Dense AdamW keeps the whole-catalog draw (the random stream of every recorded small-catalog
    figure); lazy Adam draws only the rows a step uses. Both never keep an item unseen in training."""
    trained = np.arange(100_000) % 4 != 0
    rows = np.arange(0, 100_000, 7)
    model = TwoTower(id_dropout=0.5)
    dense_rng, lazy_rng = np.random.default_rng(3), np.random.default_rng(3)
    dense = model._id_mask(trained, dense_rng, lazy=False)
    expected = (trained & (np.random.default_rng(3).random(len(trained)) >= 0.5))[rows]
    assert np.array_equal(dense(rows), expected)
    lazy = model._id_mask(trained, lazy_rng, lazy=True)
    kept = lazy(rows)
    assert not kept[~trained[rows]].any()
    assert abs(kept[trained[rows]].mean() - 0.5) < 0.02
    # the lazy draw consumed len(rows) numbers, not the catalog's
    assert lazy_rng.random() == np.random.default_rng(3).random(len(rows) + 1)[-1]
    assert TwoTower(id_dropout=0.0)._id_mask(trained, np.random.default_rng(0), lazy=True)(rows).tolist() \
        == trained[rows].tolist()
