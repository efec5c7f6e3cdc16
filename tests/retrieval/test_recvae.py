"""RecVAE: the shared conformance suite plus its prior, KL weight and alternating updates."""

from __future__ import annotations

import numpy as np
import pytest
from conformance import RecommenderConformance
from tests_support import tiny_dataset

torch = pytest.importorskip("torch")

from recstrata.errors import ConfigError  # noqa: E402
from recstrata.retrieval.base import Recommender  # noqa: E402
from recstrata.retrieval.recvae import RecVAE, _log_normal  # noqa: E402

SMALL = {"hidden": 32, "latent": 8, "batch_size": 8, "epochs": 20, "learning_rate": 0.01}


class TestRecVAE(RecommenderConformance):
    make = staticmethod(lambda: RecVAE(**SMALL))


@pytest.fixture(scope="module")
def trained(blocks):
    return RecVAE(**SMALL).fit(blocks[0])


def test_log_normal_matches_torch_distributions():
    z, mu, logvar = torch.tensor([0.3, -1.0]), torch.tensor([0.0, 0.5]), torch.tensor([0.0, 1.2])
    expected = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z)
    torch.testing.assert_close(_log_normal(z, mu, logvar), expected)


def test_training_loss_decreases_and_a_block_history_gets_its_block(trained):
    assert np.mean(trained.train_loss_[-3:]) < 0.8 * np.mean(trained.train_loss_[:3])
    ids, _ = trained.recommend(histories=[[30, 31, 32]], k=5)
    assert all(i // 10 == 3 for i in ids[0])


def test_prior_copy_is_the_encoder_after_its_updates(trained):
    # the last round refreshed q_old after the encoder passes; the decoder pass left the encoder alone
    for a, b in zip(trained.net_.encoder.parameters(), trained.net_.old_encoder.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert not any(p.requires_grad for p in trained.net_.old_encoder.parameters())


def test_decoder_only_pass_leaves_the_encoder_alone(blocks):
    model = RecVAE(**SMALL | {"epochs": 1, "encoder_epochs": 1, "decoder_epochs": 1}).fit(blocks[0])
    before = {k: v.clone() for k, v in model.net_.state_dict().items()}
    model._decoder_opt = torch.optim.Adam(model.net_.decoder.parameters(), lr=0.01)
    model.net_.train()
    users = np.arange(blocks[0].n_users)
    model._pass(torch, model.seen_, users, np.random.default_rng(0), model._decoder_opt, 0.0)
    after = model.net_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("decoder."))
    assert not torch.equal(before["decoder.weight"], after["decoder.weight"])


def test_same_seed_same_model(blocks):
    params = SMALL | {"epochs": 2}
    a, b = (RecVAE(**params).fit(blocks[0]) for _ in range(2))
    np.testing.assert_array_equal(a.item_vectors(), b.item_vectors())


def test_early_stopping_keeps_the_best_epoch(blocks):
    from recstrata.data.split import ratio_split
    from recstrata.evaluation import evaluate

    split = ratio_split(blocks[0], seed=0)
    model = RecVAE(**SMALL | {"patience": 3}).fit(split.train, valid=split)
    assert model.best_epoch_ == int(np.argmax(model.valid_ndcg_)) + 1
    again = evaluate(model, split, "valid", ks=[10], beyond_accuracy=False, group_by=[]).metrics["ndcg@10"]
    assert again == pytest.approx(max(model.valid_ndcg_), abs=1e-6)


@pytest.mark.parametrize(("params", "match"), [
    ({"hidden": 0}, "hidden=0"), ({"gamma": -1.0}, "gamma=-1.0"), ({"dropout": 1.0}, "dropout=1.0"),
    ({"encoder_epochs": 0}, "encoder_epochs=0"), ({"learning_rate": 0.0}, "learning_rate=0.0"),
    ({"patience": 0}, "patience=0"),
])
def test_bad_parameters_are_clear_errors(params, match):
    with pytest.raises(ConfigError, match=match):
        RecVAE(**params).fit(tiny_dataset([[0, 1], [1, 2]], n_items=3))


def test_the_prior_copy_is_not_saved_and_older_artefacts_still_load(trained, tmp_path):
    trained.save(tmp_path / "m")
    assert not any("old_encoder" in k for k in np.load(tmp_path / "m" / "state.npz").files)
    loaded = Recommender.load(tmp_path / "m")
    for a, b in zip(loaded.net_.encoder.parameters(), loaded.net_.old_encoder.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    old = dict(super(RecVAE, trained)._state())  # the layout saved before: old encoder included
    assert any("old_encoder" in k for k in old)
    again = RecVAE(**trained.get_params())
    again.n_users_, again.n_items_, again.seen_ = trained.n_users_, trained.n_items_, trained.seen_
    again._set_state(old)
    h = [[30, 31, 32], [1]]
    np.testing.assert_array_equal(again.recommend(histories=h, k=5)[0],
                                  trained.recommend(histories=h, k=5)[0])
