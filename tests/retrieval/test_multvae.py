"""Mult-VAE: the shared conformance suite plus training behaviour on the block dataset."""

from __future__ import annotations

import numpy as np
import pytest
from conformance import RecommenderConformance
from tests_support import tiny_dataset

pytest.importorskip("torch")

from recstrata.errors import ConfigError  # noqa: E402
from recstrata.retrieval.multvae import MultVAE  # noqa: E402

# small enough to train in about a second on the 40 x 40 block dataset
SMALL = {"hidden": 32, "latent": 8, "batch_size": 8, "epochs": 60, "learning_rate": 0.01,
         "total_anneal_steps": 100, "anneal_cap": 0.2}


class TestMultVAE(RecommenderConformance):
    make = staticmethod(lambda: MultVAE(**SMALL))


@pytest.fixture(scope="module")
def trained(blocks):
    return MultVAE(**SMALL).fit(blocks[0])


def test_training_loss_decreases(trained):
    losses = trained.train_loss_
    assert len(losses) == SMALL["epochs"] == trained.epochs_run_
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


def test_a_history_inside_a_block_gets_that_blocks_items(trained):
    ids, _ = trained.recommend(histories=[[30, 31, 32], [5]], k=5)
    assert all(i // 10 == 3 for i in ids[0])
    assert all(i // 10 == 0 for i in ids[1])


def test_new_events_change_the_scores_without_refitting(trained):
    _, before = trained.recommend(histories=[[0, 1]], k=30, exclude_seen=False)
    ids, after = trained.recommend(histories=[[0, 1, 20, 21, 22, 23]], k=3)
    assert all(i // 10 == 2 for i in ids[0])  # the newer, larger block now dominates
    assert not np.allclose(before, trained.recommend(histories=[[0, 1, 20]], k=30, exclude_seen=False)[1])


def test_same_seed_same_model_other_seed_other_model(blocks):
    ds, _ = blocks
    params = SMALL | {"epochs": 5}
    a, b, c = (MultVAE(**params | {"seed": s}).fit(ds) for s in (7, 7, 8))
    np.testing.assert_array_equal(a.item_vectors(), b.item_vectors())
    np.testing.assert_array_equal(a.recommend(np.arange(5), k=5)[1], b.recommend(np.arange(5), k=5)[1])
    assert not np.array_equal(a.item_vectors(), c.item_vectors())


def test_training_leaves_torch_threads_and_rng_alone(blocks):
    import torch

    before_threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    MultVAE(**SMALL | {"epochs": 2, "threads": 1}).fit(blocks[0])
    assert torch.get_num_threads() == before_threads
    assert torch.equal(torch.rand(3), expected)


def test_kl_weight_is_annealed_to_the_cap():
    model = MultVAE(anneal_cap=0.2, total_anneal_steps=1000)
    assert [model.beta(s) for s in (0, 100, 200, 5000)] == pytest.approx([0.0, 0.1, 0.2, 0.2])
    assert MultVAE(anneal_cap=0.3, total_anneal_steps=0).beta(0) == 0.3


def test_early_stopping_keeps_the_best_epoch(blocks):
    from recstrata.data.split import ratio_split
    from recstrata.evaluation import evaluate

    split = ratio_split(blocks[0], seed=0)
    model = MultVAE(**SMALL | {"epochs": 40, "patience": 5}).fit(split.train, valid=split)
    assert model.best_epoch_ == int(np.argmax(model.valid_ndcg_)) + 1
    assert model.epochs_run_ == len(model.valid_ndcg_) <= 40
    # the weights kept are the best epoch's: re-scoring validation gives its figure
    again = evaluate(model, split, "valid", ks=[10], beyond_accuracy=False, group_by=[]).metrics["ndcg@10"]
    assert again == pytest.approx(max(model.valid_ndcg_), abs=1e-6)


def test_valid_must_match_the_fitted_dataset(blocks):
    from recstrata.data.split import ratio_split

    with pytest.raises(ConfigError, match="split.train"):
        MultVAE(**SMALL).fit(blocks[0], valid=ratio_split(blocks[0]))


@pytest.mark.parametrize(("params", "match"), [
    ({"hidden": 0}, "hidden=0"), ({"latent": 2.0}, "latent=2.0"), ({"dropout": 1.0}, "dropout=1.0"),
    ({"anneal_cap": -0.1}, "anneal_cap=-0.1"), ({"total_anneal_steps": -1}, "total_anneal_steps=-1"),
    ({"learning_rate": 0.0}, "learning_rate=0.0"), ({"batch_size": 0}, "batch_size=0"),
    ({"epochs": True}, "epochs=True"), ({"threads": 0}, "threads=0"),
    ({"weight_decay": -1.0}, "weight_decay=-1.0"),
])
def test_bad_parameters_are_clear_errors(params, match):
    with pytest.raises(ConfigError, match=match):
        MultVAE(**params).fit(tiny_dataset([[0, 1], [1, 2]], n_items=3))


def test_grid_search_early_stops_and_pins_the_epoch_count(blocks):
    """experiment.tune fits with valid=; the trial's parameters reproduce the early-stopped model
    without valid= (the refit a training run does on all data trains as long as validation chose)."""
    from recstrata.data.split import ratio_split
    from recstrata.experiment import tune
    from recstrata.retrieval.registry import make_model

    split = ratio_split(blocks[0], seed=0)
    fixed = SMALL | {"epochs": 40, "patience": 5}
    model, best, trials = tune("multvae", split, space={"learning_rate": [0.01]}, fixed=fixed)
    assert best.params == {"learning_rate": 0.01, "epochs": model.best_epoch_} and model.best_epoch_ < 40
    again = make_model("multvae", **fixed | best.params).fit(split.train)
    users = np.arange(blocks[0].n_users)
    np.testing.assert_array_equal(again.recommend(users, k=5)[0], model.recommend(users, k=5)[0])
