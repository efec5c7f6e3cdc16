"""SASRec: the shared conformance suite plus known-answer sequential behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from conformance import RecommenderConformance

pytest.importorskip("torch")

from recstrata.errors import ConfigError  # noqa: E402
from recstrata.retrieval.base import Recommender  # noqa: E402
from recstrata.retrieval.sasrec import SASRec  # noqa: E402

SMALL = dict(max_len=12, dim=32, layers=1, heads=2, inner=64, dropout=0.0, attn_dropout=0.0,
             learning_rate=5e-3, batch_size=32, threads=1, seed=0)


@pytest.fixture(scope="module")
def blocks(blocks):
    """The conformance blocks, each user consuming their block in a random order.

    In the shared fixture every user consumes the block in index order, so the block's last
    item is always the final event and nothing ever follows it: for a next-item model the
    answer after a full history is undefined (SASRec then picks arbitrary items, ~10% right).
    In random order "the next item is an unseen item of my block" is what the data teaches,
    and the user's missing item stays the known answer (same users, items and ``expected``).
    """
    from tests_support import with_timestamps

    ds, expected = blocks
    stamps = np.random.default_rng(0).permutation(len(ds.interactions))
    return with_timestamps(ds, stamps, "blocks-shuffled"), expected


class TestSASRec(RecommenderConformance):
    # more epochs memorise the toy orders. The ML-100K regularisers of the defaults are switched off:
    # label smoothing and the genre embedding (every block here is one genre) together slow that
    # memorisation (at seed 0, 0.825 of users get their missing item first after 20 epochs; each alone
    # 0.975 / 1.0); the contract is what this suite checks
    make = staticmethod(lambda: SASRec(epochs=20, label_smoothing=0.0, item_features=False, **SMALL))


class TestSASRecDefaults(RecommenderConformance):
    """The shipped defaults under the whole contract (save/load, batch = one-by-one, filters, padding);
    the in-block known answers are TestSASRec's (see its comment)."""

    knows_blocks = False
    make = staticmethod(lambda: SASRec(epochs=3, threads=1))


def successor_dataset(n_items: int = 30, n_users: int = 60, length: int = 12, seed: int = 0):
    """Every user walks a ring of items: item i is always followed by item (i + 1) mod n_items."""
    from tests_support import tiny_dataset

    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n_items, n_users)
    return tiny_dataset([[(s + j) % n_items for j in range(length)] for s in starts], n_items)


@pytest.fixture(scope="module")
def successor():
    ds = successor_dataset()
    return ds, SASRec(epochs=40, **SMALL).fit(ds)


def test_next_item_is_the_successor(successor):
    ds, model = successor
    rng = np.random.default_rng(1)
    histories = [[(s + j) % ds.n_items for j in range(int(rng.integers(1, 8)))] for s in range(ds.n_items)]
    ids, _ = model.recommend(histories=histories, k=1, exclude_seen=False)
    expected = np.array([(h[-1] + 1) % ds.n_items for h in histories])
    assert (ids[:, 0] == expected).mean() >= 0.9


def test_appending_a_click_moves_the_recommendation(successor):
    ds, model = successor
    ids, _ = model.recommend(histories=[[3, 4, 5], [3, 4, 5, 6]], k=1, exclude_seen=False)
    assert list(ids[:, 0]) == [6, 7]
    # order matters: the same items in another order give another answer
    ids, _ = model.recommend(histories=[[20, 21, 22], [22, 20, 21]], k=1, exclude_seen=False)
    assert list(ids[:, 0]) == [23, 22]


def test_the_repeat_score_keeps_the_windows_items_out_of_an_unmasked_answer():
    """The ring walks never repeat an item, so the learned score is negative: after [22, 20, 21] the
    successor 22 has been read and the next unread item of the walk, 23, comes first."""
    ds = successor_dataset()
    model = SASRec(epochs=40, repeat_score=True, **SMALL).fit(ds)
    ids, _ = model.recommend(histories=[[20, 21, 22], [22, 20, 21]], k=1, exclude_seen=False)
    assert list(ids[:, 0]) == [23, 23]


def test_known_user_uses_the_latest_training_items(successor):
    ds, model = successor
    last = np.array([h[-1] for h in ds.histories()])
    ids, _ = model.recommend(np.arange(ds.n_users), k=1, exclude_seen=False)
    assert (ids[:, 0] == (last + 1) % ds.n_items).mean() >= 0.9


def test_only_the_latest_max_len_items_count(successor):
    ds, model = successor
    recent = [(10 + j) % ds.n_items for j in range(model.max_len)]  # exactly max_len items
    older = [7, 1, 25, 3, 19]  # anything before them must not matter
    a = model.recommend(histories=[recent, older + recent], k=5, exclude_seen=False)
    np.testing.assert_array_equal(a[0][0], a[0][1])
    np.testing.assert_allclose(a[1][0], a[1][1], rtol=1e-5, atol=1e-6)
    assert a[0][0, 0] == (recent[-1] + 1) % ds.n_items


def test_save_load_keeps_sequences_and_weights(successor, tmp_path):
    ds, model = successor
    model.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    for a, b in zip(model.sequences_, loaded.sequences_, strict=True):
        np.testing.assert_array_equal(a, b)
    h = [[1, 2, 3], [9], []]
    np.testing.assert_array_equal(model.recommend(histories=h, k=5)[1], loaded.recommend(histories=h, k=5)[1])
    np.testing.assert_array_equal(model.item_vectors(), loaded.item_vectors())


def test_early_stopping_keeps_the_best_epoch():
    from recstrata.data.split import loo_split

    ds = successor_dataset(n_users=80, length=10)
    split = loo_split(ds)
    model = SASRec(epochs=30, patience=3, **SMALL).fit(split.train, valid=split)
    assert model.best_epoch_ == [int(np.argmax(model.valid_ndcg_[0])) + 1]
    assert max(model.valid_ndcg_[0]) >= 0.9  # the successor is always the held-out item
    assert model.epochs_run_[0] <= 30


def test_valid_must_match_the_fitted_dataset():
    from recstrata.data.split import loo_split

    ds = successor_dataset()
    with pytest.raises(ConfigError, match="split.train"):
        SASRec(epochs=1, **SMALL).fit(ds, valid=loo_split(ds))


def test_training_is_reproducible_and_leaves_torch_threads_alone():
    import torch

    before = torch.get_num_threads()
    ds = successor_dataset(n_users=20)
    a = SASRec(epochs=2, **SMALL).fit(ds)
    b = SASRec(epochs=2, **SMALL).fit(ds)
    np.testing.assert_array_equal(a.item_vectors(), b.item_vectors())
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("stride", [1, 3, 8])
def test_windows_train_every_target_once_with_at_least_max_len_minus_stride_context(stride):
    """Each target is trained once an epoch; its context is its history's latest items, no fewer than
    ``max_len - stride + 1`` of them (``stride=1``: the full ``max_len``, RecBole's prefix samples)."""
    model = SASRec(max_len=8, stride=stride)
    model.sequences_ = [np.arange(30) + 100, np.arange(5) + 200, np.array([300]), np.arange(9) + 400]
    inputs, targets = model._windows(np.random.default_rng(0))  # (W, 8) x 2, item rows = index + 1
    seen = []
    for inp, tgt in zip(inputs, targets, strict=True):
        for col in np.flatnonzero(tgt):
            context = inp[: col + 1][inp[: col + 1] > 0] - 1  # what the target at `col` attends to
            seq = next(s for s in model.sequences_ if tgt[col] - 1 in s)
            j = int(np.flatnonzero(seq == tgt[col] - 1)[0])
            assert min(j, 8 - stride + 1) <= len(context) <= min(j, 8)
            np.testing.assert_array_equal(context, seq[j - len(context) : j])  # the latest items before it
            seen.append(tgt[col] - 1)
    expected = np.concatenate([s[1:] for s in model.sequences_])
    np.testing.assert_array_equal(np.sort(seen), np.sort(expected))  # every target exactly once


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_both_layouts_learn_the_successor_from_strided_windows(norm):
    ds = successor_dataset()
    model = SASRec(epochs=40, norm=norm, stride=4, **SMALL).fit(ds)
    ids, _ = model.recommend(histories=[[3, 4, 5], [20, 21, 22, 23]], k=1, exclude_seen=False)
    assert list(ids[:, 0]) == [6, 24]


@pytest.mark.parametrize("bad, named", [(dict(stride=0), "stride=0"), (dict(stride=13), "stride=13"),
                                        (dict(norm="mid"), "norm='mid'"), (dict(ensemble=0), "ensemble=0"),
                                        (dict(label_smoothing=1.0), "label_smoothing=1.0"),
                                        (dict(schedule="linear"), "schedule='linear'"),
                                        (dict(warmup_epochs=-1), "warmup_epochs=-1"),
                                        (dict(warmup_epochs=1), "warmup_epochs=1 with epochs=1"),
                                        (dict(warmup_epochs=1.5), "warmup_epochs=1.5"),
                                        (dict(weight_decay=-0.1), "weight_decay=-0.1"),
                                        (dict(learning_rate=0.0), "learning_rate=0.0"),
                                        (dict(history_margin=-1.0), "history_margin=-1.0"),
                                        (dict(history_margin="2"), "history_margin='2'"),
                                        (dict(history_margin=float("nan")), "history_margin=nan"),
                                        (dict(contrastive=-0.1), "contrastive=-0.1"),
                                        (dict(contrastive_temperature=0.0), "contrastive_temperature=0.0"),
                                        (dict(contrastive_positives="both"), "contrastive_positives='both'")])
def test_bad_options_are_refused_naming_the_value(bad, named):
    with pytest.raises(ConfigError) as err:
        SASRec(epochs=1, **{**SMALL, **bad}).fit(successor_dataset(n_users=5))
    assert named in str(err.value)


def test_average_keeps_the_mean_of_the_best_epochs_weights():
    from recstrata.data.split import loo_split

    ds = successor_dataset(n_users=20)
    one, two = (SASRec(epochs=n, **SMALL).fit(ds) for n in (1, 2))  # epoch 1 of `two` is `one`
    mean = SASRec(epochs=2, average=2, **SMALL).fit(ds)  # without valid: the last `average` epochs
    np.testing.assert_allclose(mean.item_vectors(), (one.item_vectors() + two.item_vectors()) / 2, atol=1e-6)

    split = loo_split(successor_dataset(n_users=40, length=10))
    three = SASRec(epochs=6, patience=6, average=3, **SMALL).fit(split.train, valid=split)
    best3 = np.argsort(-np.array(three.valid_ndcg_[0]), kind="stable")[:3] + 1
    assert three.averaged_epochs_ == [sorted(best3.tolist())]


def full_scores(model, histories):
    """(len(histories), n_items) scores of every item, seen ones included."""
    ids, scores = model.recommend(histories=histories, k=model.n_items_, exclude_seen=False)
    out = np.zeros_like(scores)
    np.put_along_axis(out, ids, scores, axis=1)
    return out


def test_ensemble_averages_the_logits_of_independently_seeded_networks(tmp_path):
    from recstrata.data.split import loo_split

    split = loo_split(successor_dataset(n_users=40, length=10))
    params = dict(SMALL, epochs=4, patience=4)
    a, b = (SASRec(**{**params, "seed": s}).fit(split.train, valid=split) for s in (0, 1))
    both = SASRec(ensemble=2, **params).fit(split.train, valid=split)  # seeds 0 and 1
    assert both.valid_ndcg_ == a.valid_ndcg_ + b.valid_ndcg_  # each member stopped on its own validation
    h = [[3, 4, 5], [20, 21], []]
    np.testing.assert_allclose(full_scores(both, h), (full_scores(a, h) + full_scores(b, h)) / 2, atol=1e-5)
    np.testing.assert_array_equal(both.item_vectors(), np.hstack([a.item_vectors(), b.item_vectors()]))

    both.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    np.testing.assert_array_equal(full_scores(loaded, h), full_scores(both, h))


def test_loads_the_single_network_layout_saved_before_ensembles(successor):
    ds, model = successor
    arrays = model._state()
    old = {k.replace("net.0.", "net.", 1): v for k, v in arrays.items()}  # keys were "net.<param>"
    loaded = SASRec(**model.get_params())
    loaded.n_users_, loaded.n_items_, loaded.seen_ = model.n_users_, model.n_items_, model.seen_
    loaded._set_state(old)
    h = [[3, 4, 5], [9]]
    np.testing.assert_array_equal(full_scores(loaded, h), full_scores(model, h))


def test_label_smoothing_caps_the_confidence_in_the_target():
    """The loss is lowest when the target gets 1 - eps + eps / n_items of the probability (0.52 here)."""
    import torch

    ds = successor_dataset()
    confidence = {}
    for eps in (0.0, 0.5):
        model = SASRec(epochs=40, label_smoothing=eps, **SMALL).fit(ds)
        logits = full_scores(model, [[3, 4, 5], [20, 21, 22, 23]])
        assert list(logits.argmax(1)) == [6, 24]  # the successor still comes first
        confidence[eps] = torch.softmax(torch.from_numpy(logits), 1).max(1).values.min().item()
    assert confidence[0.0] > 0.8
    assert 0.35 < confidence[0.5] < 0.65


def genre_dataset(n_users: int = 60, length: int = 12, seed: int = 0):
    """Items 0..29 on a ring as in ``successor_dataset``; item i has genre ``g{i % 3}`` (and ``all``)."""
    import dataclasses

    ds = successor_dataset(n_users=n_users, length=length, seed=seed)
    items = ds.items.copy()
    items["genres"] = [(f"g{i % 3}", "all") for i in range(len(items))]
    return dataclasses.replace(ds, items=items)


def test_untied_output_scores_with_its_own_table_and_still_learns_the_successor(successor, tmp_path):
    ds = successor_dataset()
    model = SASRec(epochs=40, tie_output=False, **SMALL).fit(ds)
    net = model.nets_[0]
    assert net.out is not None and "out.weight" in net.state_dict()
    table = model.item_vectors()  # the output table, no longer the input one
    assert table.shape == (ds.n_items, SMALL["dim"])
    assert not np.allclose(table, net.items.weight[1:].detach().numpy())
    ids, _ = model.recommend(histories=[[3, 4, 5], [20, 21, 22, 23]], k=1, exclude_seen=False)
    assert list(ids[:, 0]) == [6, 24]
    # the tied default keeps no second table
    _, tied = successor
    assert tied.nets_[0].out is None and "out.weight" not in tied.nets_[0].state_dict()

    model.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    assert loaded.tie_output is False
    h = [[3, 4, 5], [9], []]
    np.testing.assert_array_equal(full_scores(loaded, h), full_scores(model, h))


def test_output_bias_learns_a_prior_for_the_most_frequent_target(tmp_path):
    """Every other item of every history is item 0: its bias ends highest and scores include it."""
    import torch
    from tests_support import tiny_dataset

    rng = np.random.default_rng(0)
    histories = [[int(x) for pair in zip(rng.integers(1, 30, 6), [0] * 6, strict=True) for x in pair]
                 for _ in range(60)]
    ds = tiny_dataset(histories, 30)
    model = SASRec(epochs=20, output_bias=True, **SMALL).fit(ds)
    net = model.nets_[0]
    bias = net.bias.detach().numpy()
    assert bias.shape == (30,) and int(bias.argmax()) == 0
    h = [[5, 0, 7]]
    with torch.inference_mode():
        state = net(torch.tensor([[6, 1, 8]]))[:, -1]  # item rows = index + 1
        expected = (state @ net.item_table().T + net.bias).numpy()
    np.testing.assert_allclose(full_scores(model, h), expected, rtol=1e-5, atol=1e-5)
    assert SASRec(epochs=1, **SMALL).fit(ds).nets_[0].bias is None  # off by default

    model.save(tmp_path / "m")
    np.testing.assert_array_equal(full_scores(Recommender.load(tmp_path / "m"), h), full_scores(model, h))


def test_item_features_embed_each_items_genres_at_the_input(tmp_path):
    import torch

    ds = genre_dataset()
    model = SASRec(epochs=10, item_features=True, **SMALL).fit(ds)
    net = model.nets_[0]
    rows = net.item_features.numpy().copy()  # (n_items + 1, G): padding row, then each item's genres summing to 1
    assert rows.shape == (31, 4) and not rows[0].any()
    np.testing.assert_allclose(rows[1:].sum(1), 1.0)
    assert (rows[1:] > 0).sum(1).tolist() == [2] * 30
    assert net.features.weight.abs().sum() > 0
    h = [[3, 4, 5], [20, 21]]
    before = full_scores(model, h)
    with torch.no_grad():  # give item 5 (in the first history only) other genres: only that score changes
        net.item_features[6] = torch.from_numpy(rows[7])
    after = full_scores(model, h)
    assert not np.allclose(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    with torch.no_grad():
        net.item_features[6] = torch.from_numpy(rows[6])

    model.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.nets_[0].item_features.numpy(), rows)
    np.testing.assert_array_equal(full_scores(loaded, h), before)


def test_an_ensemble_saves_the_feature_rows_once_and_older_copies_still_load(tmp_path):
    ds = genre_dataset(n_users=20)
    model = SASRec(epochs=2, ensemble=2, item_features=True, **SMALL).fit(ds)
    model.save(tmp_path / "m")
    saved = np.load(tmp_path / "m" / "state.npz").files
    assert [k for k in saved if k.endswith("item_features")] == ["net.0.item_features"]
    h = [[3, 4, 5], [20, 21]]
    loaded = Recommender.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.nets_[1].item_features.numpy(), model.nets_[1].item_features.numpy())
    np.testing.assert_array_equal(full_scores(loaded, h), full_scores(model, h))
    older = model._state() | {"net.1.item_features": model.nets_[1].item_features.numpy()}  # the old layout
    again = SASRec(**model.get_params())
    again.n_users_, again.n_items_, again.seen_ = model.n_users_, model.n_items_, model.seen_
    again._set_state(older)
    np.testing.assert_array_equal(full_scores(again, h), full_scores(model, h))


def test_item_features_default_to_genres_when_the_dataset_has_them():
    with_genres = SASRec(epochs=1, **SMALL).fit(genre_dataset(n_users=5))  # item_features=None
    assert with_genres.nets_[0].features is not None and with_genres.nets_[0].item_features.shape == (31, 4)
    without = SASRec(epochs=1, **SMALL).fit(successor_dataset(n_users=5))
    assert without.nets_[0].features is None and "item_features" not in without.nets_[0].state_dict()
    off = SASRec(epochs=1, item_features=False, **SMALL).fit(genre_dataset(n_users=5))
    assert off.nets_[0].features is None


def test_item_features_need_genres():
    with pytest.raises(ConfigError, match="item_features=False"):
        SASRec(epochs=1, item_features=True, **SMALL).fit(successor_dataset(n_users=5))  # no genres


@pytest.mark.parametrize("name", ["tie_output", "output_bias", "item_features", "tie_shuffle", "repeat_score"])
def test_switches_must_be_booleans(name):
    with pytest.raises(ConfigError) as err:
        SASRec(epochs=1, **{**SMALL, name: "no"}).fit(successor_dataset(n_users=5))
    assert f"{name}='no'" in str(err.value)


def test_an_artefact_saved_before_new_parameters_keeps_its_behaviour_when_refitted(successor, tmp_path):
    """A manifest without item_features / label_smoothing was trained without them: loading fills in
    the legacy values (off), not today's defaults, so a refit trains the same architecture."""
    import json

    _, model = successor
    model.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    for key in ("item_features", "label_smoothing"):
        manifest["params"].pop(key)
    (tmp_path / "m" / "manifest.json").write_text(json.dumps(manifest))
    loaded = Recommender.load(tmp_path / "m")
    assert loaded.item_features is False and loaded.label_smoothing == 0.0
    assert SASRec().item_features is None and SASRec().label_smoothing == 0.1  # today's defaults differ


def test_an_artefact_saved_before_the_repeat_score_loads_without_it(tmp_path):
    import json

    ds = successor_dataset(n_users=10)
    old = SASRec(epochs=1, repeat_score=False, **SMALL).fit(ds)  # what older code trained
    old.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    manifest["params"].pop("repeat_score")
    (tmp_path / "m" / "manifest.json").write_text(json.dumps(manifest))
    loaded = Recommender.load(tmp_path / "m")
    assert loaded.repeat_score is False
    histories = [[1, 2, 3], [5]]
    np.testing.assert_allclose(full_scores(loaded, histories), full_scores(old, histories), atol=1e-6)


def test_loading_leaves_the_callers_torch_rng_alone(successor, tmp_path):
    from tests_support import assert_load_leaves_torch_rng_alone

    assert_load_leaves_torch_rng_alone(successor[1], tmp_path / "m")


def test_cosine_schedule_warms_up_then_decays_to_zero_over_epochs():
    ds = successor_dataset(n_users=20)
    model = SASRec(**{**SMALL, "learning_rate": 1e-2}, epochs=6, schedule="cosine", warmup_epochs=2).fit(ds)
    # warmup 1/3, 2/3 of the rate, then a half cosine over the 4 remaining epochs: 1, cos^2(pi/8), 1/2, ...
    expected = [1 / 3, 2 / 3, 1.0, 0.5 * (1 + np.cos(np.pi / 4)), 0.5, 0.5 * (1 + np.cos(3 * np.pi / 4))]
    np.testing.assert_allclose(model.learning_rates_[0], 1e-2 * np.array(expected), rtol=1e-12)
    constant = SASRec(epochs=3, **SMALL).fit(ds)
    assert constant.learning_rates_ == [[SMALL["learning_rate"]] * 3]
    # the rates reach the optimizer: a different schedule trains different weights
    flat = SASRec(**{**SMALL, "learning_rate": 1e-2}, epochs=6).fit(ds)
    assert not np.allclose(model.item_vectors(), flat.item_vectors())


def test_constant_schedule_without_warmup_is_the_training_of_before():
    """Explicit defaults train bit-identically to not passing the options (the pre-option code path)."""
    ds = successor_dataset(n_users=20)
    a = SASRec(epochs=2, **SMALL).fit(ds)
    b = SASRec(epochs=2, schedule="constant", warmup_epochs=0, weight_decay=0.0, **SMALL).fit(ds)
    np.testing.assert_array_equal(a.item_vectors(), b.item_vectors())


def test_weight_decay_is_decoupled_and_shrinks_the_weights(tmp_path):
    import torch

    ds = successor_dataset(n_users=20)
    plain, decayed = (SASRec(epochs=3, weight_decay=wd, **SMALL).fit(ds) for wd in (0.0, 0.5))
    assert np.linalg.norm(decayed.item_vectors()) < np.linalg.norm(plain.item_vectors())
    # AdamW, not Adam's L2 term: one step on zero gradients still shrinks a weight by lr * wd
    w = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    w.grad = torch.zeros(3)
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), 1 - 0.1 * 0.5)
    decayed.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    assert (loaded.weight_decay, loaded.schedule, loaded.warmup_epochs) == (0.5, "constant", 0)


def test_schedule_options_are_saved_and_loaded(tmp_path):
    ds = successor_dataset(n_users=20)
    model = SASRec(epochs=3, schedule="cosine", warmup_epochs=1, **SMALL).fit(ds)
    model.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    assert (loaded.schedule, loaded.warmup_epochs, loaded.epochs) == ("cosine", 1, 3)
    h = [[3, 4, 5]]
    np.testing.assert_array_equal(full_scores(loaded, h), full_scores(model, h))


def test_early_stopped_params_only_when_a_plain_fit_reproduces_it():
    def stopped(best, **params):
        model = SASRec(**params)
        model.best_epoch_ = best  # what fit(..., valid=) records
        return model.early_stopped_params()

    assert stopped([7]) == {"epochs": 7}
    assert stopped([7], average=2) == {}  # the kept weights average several epochs
    assert stopped([7], schedule="cosine") == {}  # the schedule depends on epochs itself
    assert stopped([7, 9], ensemble=2) == {}  # each member keeps its own best epoch
    assert SASRec().early_stopped_params() == {}  # never fitted with valid=


def test_history_margin_ranks_the_networks_own_input_that_margin_lower():
    """Users consume all 8 items once each, in random order: the next item is uniform over the unseen
    ones. With label smoothing e the loss is lowest when each seen item's logit lies
    log((e/n) / ((1-e)/unseen + e/n)) below an unseen one's; with ``history_margin`` m the training
    logits of the inputs are raised by m, so the fitted logits lie a further m below."""
    from tests_support import tiny_dataset

    n, eps, margin = 8, 0.5, 2.0
    rng = np.random.default_rng(0)
    ds = tiny_dataset([list(rng.permutation(n)) for _ in range(300)], n)
    histories = [list(rng.permutation(n)[:k]) for k in (2, 3, 4, 5) for _ in range(5)]
    seen = np.zeros((len(histories), n), bool)
    for row, h in enumerate(histories):
        seen[row, h] = True
    unseen = n - seen.sum(1)
    optimum = -np.log((eps / n) / ((1 - eps) / unseen + eps / n))  # unseen minus seen logit

    def gaps(m):
        params = {**SMALL, "max_len": n}
        model = SASRec(epochs=150, label_smoothing=eps, history_margin=m, item_features=False, **params)
        model.fit(ds)
        logits = full_scores(model, histories)
        return np.array([row[~s].mean() - row[s].mean() for row, s in zip(logits, seen)])

    plain, with_margin = gaps(0.0), gaps(margin)
    assert abs((plain - optimum).mean()) < 0.3
    assert abs((with_margin - plain).mean() - margin) < 0.4


@pytest.mark.parametrize("per_row", [False, True])
def test_read_term_raises_exactly_the_items_each_position_has_read(per_row):
    """Against a plain loop: left padding, repeated items, all-padding rows, positions not trained;
    one value for all rows (the margin) or one per row (the learned repeat score)."""
    import torch

    rng = np.random.default_rng(0)
    n_items, width = 9, 7
    for _ in range(50):
        x = torch.from_numpy(rng.integers(1, n_items + 1, (5, width)))
        for b, pad in enumerate(rng.integers(0, width + 1, 5)):
            x[b, :pad] = 0  # left padding; pad == width: a row of padding only
        keep = torch.from_numpy(rng.random((5, width)) < 0.7) & (x > 0)
        logits = torch.from_numpy(rng.normal(size=(int(keep.sum()), n_items)).astype(np.float32))
        rows = int(keep.sum())
        values = rng.normal(size=(rows, 1)) if per_row else np.full((rows, 1), 2.5)
        values = values.astype(np.float32)
        value = torch.from_numpy(values) if per_row else 2.5
        got = SASRec._add_read_term(torch, logits, x, keep, value) - logits
        expected = np.zeros(got.shape, np.float32)
        row = 0
        for b in range(5):
            for t in range(width):
                if keep[b, t]:
                    for s in range(t + 1):  # what position t has read, itself included
                        if x[b, s] > 0:
                            expected[row, int(x[b, s]) - 1] = values[row, 0]
                    row += 1
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-6)


def timed_dataset(histories: list[list[int]], times: list[list[int]], n_items: int):
    """``tiny_dataset`` with the given per-user timestamps (file order = list order)."""
    from tests_support import tiny_dataset, with_timestamps

    return with_timestamps(tiny_dataset(histories, n_items), np.concatenate(times))


def test_tie_shuffle_reorders_items_only_within_a_timestamp():
    ds = timed_dataset([[5, 1, 7, 2, 0, 3], [4, 6]], [[10, 10, 10, 20, 30, 30], [5, 5]], 8)
    model = SASRec(tie_shuffle=True)
    model.sequences_, model._times = ds.histories(), ds.history_timestamps()
    assert [list(s) for s in model.sequences_] == [[5, 1, 7, 2, 0, 3], [4, 6]]  # ties keep file order
    rng = np.random.default_rng(0)
    heads, tails, pairs = set(), set(), set()
    for _ in range(200):
        first, second = model._epoch_sequences(rng)
        assert sorted(first[:3]) == [1, 5, 7] and first[3] == 2 and sorted(first[4:]) == [0, 3]
        heads.add(tuple(first[:3]))
        tails.add(tuple(first[4:]))
        pairs.add(tuple(second))
    assert len(heads) == 6 and len(tails) == 2 and len(pairs) == 2  # every order of every run
    model.tie_shuffle = False
    assert model._epoch_sequences(rng) is model.sequences_


def test_tie_shuffle_teaches_both_orders_of_items_recorded_together():
    """Users consume item pairs (2j, 2j + 1), both at one timestamp and always in that file order, the
    pairs in random order. In the file 2j never follows 2j + 1, so a plain fit ranks 2j low after
    2j + 1; with ``tie_shuffle`` half of the epochs see 2j + 1 first, and 2j is the top answer."""
    n_pairs, rng = 6, np.random.default_rng(0)
    histories, times = [], []
    for _ in range(400):
        order = rng.permutation(n_pairs)
        histories.append([i for j in order for i in (2 * j, 2 * j + 1)])
        times.append([t for t in range(n_pairs) for _ in range(2)])
    ds = timed_dataset(histories, times, 2 * n_pairs)
    probes = [[2 * j + 1] for j in range(n_pairs)]  # history: one odd item; its partner is the answer
    ranks = {}
    for shuffle in (False, True):
        model = SASRec(epochs=40, tie_shuffle=shuffle, label_smoothing=0.0, item_features=False,
                       **SMALL).fit(ds)
        scores = full_scores(model, probes)
        ranks[shuffle] = [int((row > row[2 * j]).sum()) for j, row in enumerate(scores)]
    assert ranks[True] == [0] * n_pairs
    assert min(ranks[False]) >= n_pairs // 2


def test_tie_shuffle_needs_timestamps():
    from recstrata.data.dataset import MISSING_TIMESTAMP

    ds = timed_dataset([[0, 1, 2]] * 5, [[MISSING_TIMESTAMP] * 3] * 5, 3)
    with pytest.raises(ConfigError, match="tie_shuffle=False"):
        SASRec(epochs=1, tie_shuffle=True, **SMALL).fit(ds)


def test_repeat_score_is_added_to_exactly_the_windows_items_when_scoring(tmp_path):
    import torch

    ds = successor_dataset(n_users=20)
    model = SASRec(epochs=2, repeat_score=True, item_features=False, **SMALL).fit(ds)
    net = model.nets_[0]
    with torch.no_grad():
        net.repeat.weight.normal_()  # a state-dependent score, not the trained near-constant
    histories = [[3, 4, 5], [7, 7, 2], [], list(range(20))]  # a repeat, an empty history, > max_len
    got = full_scores(model, histories)
    for row, h in zip(got, histories):
        x = torch.zeros((1, SMALL["max_len"]), dtype=torch.long)
        window = h[-SMALL["max_len"]:]
        if window:
            x[0, -len(window):] = torch.tensor(window) + 1
        with torch.no_grad():
            state = net(x)[:, -1]
            plain, score = net.scores(state)[0].numpy(), float(net.repeat(state))
        expected = plain.copy()
        expected[sorted(set(window))] += score
        np.testing.assert_allclose(row, expected, rtol=1e-5, atol=1e-5)
    model.save(tmp_path / "m")
    np.testing.assert_allclose(full_scores(Recommender.load(tmp_path / "m"), histories), got, atol=1e-6)


@pytest.mark.parametrize("repeats, sign", [(False, -1), (True, 1)])
def test_repeat_score_learns_whether_users_repeat_what_they_read(repeats, sign):
    """Users who never repeat (each consumes 8 random items of 40 once) teach a negative score for the
    window's items; users who cycle through their own 4 items teach a positive one."""
    from tests_support import tiny_dataset

    rng = np.random.default_rng(0)
    if repeats:
        histories = [list(rng.choice(40, 4, replace=False)) * 3 for _ in range(300)]
    else:
        histories = [list(rng.choice(40, 8, replace=False)) for _ in range(300)]
    model = SASRec(epochs=15, repeat_score=True, label_smoothing=0.0, item_features=False, **SMALL)
    model.fit(tiny_dataset(histories, 40))
    probes = [list(rng.choice(40, 4, replace=False)) for _ in range(20)]
    import torch

    net = model.nets_[0]
    x = torch.tensor([[0] * (SMALL["max_len"] - 4) + [i + 1 for i in p] for p in probes])
    with torch.no_grad():
        learned = net.repeat(net(x)[:, -1]).numpy().ravel()
    assert (sign * learned > 0).all() and sign * learned.mean() > 2.0, learned


@pytest.mark.parametrize("positives, targets, expected, temperature", [
    ("view", [3, 4], np.log(2 + np.e) - 1, 1.0),  # sims to the others 0, 1 (the other view), 0
    ("view", [3, 4], np.log(2 + np.e ** 0.5) - 0.5, 2.0),  # the same over the temperature
    ("view", [5, 5], 0.0, 1.0),  # the same next item: the other state is no negative, the view is all that is left
    ("target", [5, 5], np.log(2 + np.e) - 1 / 3, 1.0),  # three positives, sims 0, 1, 0
    ("target", [3, 4], np.log(2 + np.e) - 1, 1.0),  # distinct next items: only the other view
])
def test_contrastive_loss_known_values(positives, targets, expected, temperature):
    """Two orthogonal unit states, each view equal to its first: InfoNCE by hand over the 4 states."""
    import torch

    model = SASRec(contrastive=1.0, contrastive_positives=positives, contrastive_temperature=temperature)
    states = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss = model._contrastive_loss(torch, states, states.clone(), torch.tensor(targets))
    assert float(loss) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("positives", ["view", "target"])
def test_contrastive_term_compares_two_dropout_views_and_the_ring_is_still_learned(positives, monkeypatch):
    """The term gets every trained position's state twice, from two forward passes in training mode
    (two dropout draws), both differentiable, with its next item; with it the ring is still learned
    (it regularises, it does not replace the loss)."""
    from recstrata.retrieval._sasrec_net import SASRecNet

    calls, passes = [], []
    original_loss, original_forward = SASRec._contrastive_loss, SASRecNet.forward

    def loss_spy(self, torch, first, second, targets):
        calls.append((first.shape, second.shape, bool((first != second).any()), second.requires_grad,
                      targets.min().item()))
        return original_loss(self, torch, first, second, targets)

    def forward_spy(net, seq):
        passes.append(net.training)
        return original_forward(net, seq)

    monkeypatch.setattr(SASRec, "_contrastive_loss", loss_spy)
    monkeypatch.setattr(SASRecNet, "forward", forward_spy)
    SASRec(epochs=1, **SMALL).fit(successor_dataset())
    assert calls == []  # off by default
    passes.clear()
    params = {**SMALL, "dropout": 0.1}
    model = SASRec(epochs=40, contrastive=0.1, contrastive_positives=positives, label_smoothing=0.0,
                   item_features=False, **params).fit(successor_dataset())
    assert calls and all(a == b and a[1] == SMALL["dim"] and differ and grad and low >= 1
                         for a, b, differ, grad, low in calls)
    assert sum(passes) == 2 * len(calls)  # two training-mode passes for each batch's term
    histories = [[s, s + 1, s + 2] for s in range(27)]
    ids, _ = model.recommend(histories=histories, k=1, exclude_seen=False)
    assert (ids[:, 0] == [h[-1] + 1 for h in histories]).mean() >= 0.9


def test_side_vectors_append_text_or_als_rows_to_the_input_features(tmp_path, monkeypatch):
    import recstrata.data.embeddings as embeddings
    from recstrata.retrieval.als import ALS

    ds = genre_dataset()
    genres = SASRec(epochs=1, item_features=True, **SMALL).fit(ds).features_  # (30, 4)
    model = SASRec(epochs=2, item_features=True, side_vectors="als", **SMALL).fit(ds)
    als = ALS(factors=SMALL["dim"], regularization=20.0, alpha=2.0, seed=model.seed).fit(ds).item_vectors()
    assert model.features_.shape == (30, 4 + SMALL["dim"])
    np.testing.assert_array_equal(model.features_[:, :4], genres)
    np.testing.assert_allclose(model.features_[:, 4:], als / np.linalg.norm(als, axis=1, keepdims=True), atol=1e-6)
    model.save(tmp_path / "m")
    h = [[3, 4, 5], [20, 21]]
    np.testing.assert_array_equal(full_scores(Recommender.load(tmp_path / "m"), h), full_scores(model, h))

    asked = {}

    def fake(dataset, cache_dir=None, **kwargs):  # the text embedding model is tested elsewhere
        asked["cache"] = cache_dir
        return np.arange(dataset.n_items * 3, dtype=np.float32).reshape(-1, 3) + 1

    monkeypatch.setattr(embeddings, "item_text_embeddings", fake)
    text = SASRec(epochs=1, item_features=False, side_vectors="text", embedding_cache="emb", **SMALL).fit(ds)
    assert asked["cache"] == "emb" and text.nets_[0].features.weight.shape == (SMALL["dim"], 3)
    rows = fake(ds)
    np.testing.assert_allclose(text.features_, rows / np.linalg.norm(rows, axis=1, keepdims=True), rtol=1e-6)
    with pytest.raises(ConfigError, match="side_vectors"):
        SASRec(side_vectors="genres", **SMALL).fit(ds)
