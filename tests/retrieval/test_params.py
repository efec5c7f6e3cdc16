"""Shared hyper-parameter checks: a ConfigError naming the parameter and its range, never a TypeError."""

from __future__ import annotations

import re

import numpy as np
import pytest

from recstrata.errors import ConfigError
from recstrata.retrieval._params import check_int, check_number
from recstrata.retrieval.registry import make_model
from recstrata.retrieval.userknn import UserKNN


class Params:
    def __init__(self, **kw):
        self.__dict__.update(kw)


@pytest.mark.parametrize("value", ["0.4", None, float("nan"), float("inf"), True, -0.1, 1.0])
def test_check_number_refuses_with_the_range(value):
    with pytest.raises(ConfigError, match=r"needs 0 <= dropout < 1, got dropout="):
        check_number(Params(dropout=value), "dropout", 0.0, 1.0, high_open=True)


@pytest.mark.parametrize("value", [0, 0.5, np.float32(0.9), np.int64(0)])
def test_check_number_accepts_numbers_in_range(value):
    check_number(Params(dropout=value), "dropout", 0.0, 1.0, high_open=True)


def test_check_int():
    check_int(Params(k=np.int64(3)), "k")
    for bad in (0, 2.0, True, "3"):
        with pytest.raises(ConfigError, match="integer k >= 1"):
            check_int(Params(k=bad), "k")


@pytest.mark.parametrize("params, named", [({"asymmetry": "0.4"}, "asymmetry"), ({"shrink": None}, "shrink"),
                                           ({"locality": 0.0}, "0 < locality")])
def test_a_model_names_its_bad_parameter(blocks, params, named):
    with pytest.raises(ConfigError, match=named):
        UserKNN(**params).fit(blocks[0])


@pytest.mark.parametrize("name, params, message", [
    ("als", {"factor": 64}, r"model 'als' \(ALS\) has no parameter 'factor' \(did you mean 'factors'\?\); "
                            r"its parameters: factors, regularization, alpha, iterations, seed, rating_weight"),
    ("ease", {"regg": 250}, r"no parameter 'regg' \(did you mean 'reg'\?\)"),
    ("pop", {"k": 3}, r"model 'pop' \(Popularity\) has no parameter 'k'; its parameters: \(none\)"),
])
def test_make_model_names_an_unknown_parameter_and_the_accepted_ones(name, params, message):
    with pytest.raises(ConfigError, match=message):
        make_model(name, **params)


def test_an_unknown_model_name_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"unknown model 'eas' \(did you mean 'ease'\?\); available: pop,"):
        make_model("eas")
    with pytest.raises(ConfigError, match=r"ItemKNN has no parameter 'shrnk' \(did you mean 'shrink'\?\)"):
        make_model("itemknn").set_params(shrnk=1.0)


@pytest.mark.parametrize("name, params, named", [
    ("als", {"factors": 0}, r"integer factors >= 1, got factors=0"),
    ("als", {"factors": "many"}, r"integer factors >= 1, got factors='many'"),
    ("als", {"iterations": 0}, r"integer iterations >= 1"),
    ("als", {"regularization": -1.0}, r"0 <= regularization"),
    ("als", {"alpha": 0}, r"0 < alpha"),
    ("als", {"seed": "x"}, r"integer seed >= 0"),
    ("bpr", {"factors": 64.0}, r"integer factors >= 1, got factors=64.0"),
    ("bpr", {"learning_rate": 0.0}, r"0 < learning_rate"),
    ("bpr", {"regularization": "0.1"}, r"0 <= regularization"),
    ("ease", {"reg": "250"}, r"0 < reg, got reg='250'"),
    ("ease", {"rating_weight": 2.0}, r"0 <= rating_weight <= 1"),
    ("itemknn", {"k": "100"}, r"integer k >= 1"),
    ("itemknn", {"shrink": None}, r"0 <= shrink"),
    ("userknn", {"k": 0}, r"integer k >= 1"),
    ("rp3beta", {"alpha": 0.0}, r"0 < alpha"),
    ("rp3beta", {"beta": [0.5]}, r"0 <= beta"),
    ("edlae", {"dropout": 1.0}, r"0 <= dropout < 1"),
    ("edlae", {"zero_diagonal": "no"}, r"zero_diagonal true or false"),
    ("gfcf", {"k": 2.5}, r"integer k >= 1"),
    ("gfcf", {"alpha": "0.3"}, r"0 <= alpha"),
])
def test_bad_hyper_parameters_are_refused_before_any_fit(blocks, name, params, named):
    model = make_model(name, **params)
    with pytest.raises(ConfigError, match=named):
        model.check_params()  # without data, as the command line checks before loading a dataset
    with pytest.raises(ConfigError, match=named):
        model.fit(blocks[0])
    assert not model.is_fitted


@pytest.mark.parametrize("name", ["als", "bpr", "ease", "itemknn", "userknn", "rp3beta", "edlae", "gfcf", "pop",
                                  "two_tower", "lightgcn", "sasrec", "multvae", "recvae", "ann"])
def test_the_defaults_pass_the_checks(name):
    make_model(name).check_params()


class UnreadDataset:
    """A dataset double that fails the test when it is read: a bad parameter must be refused first."""

    def __getattr__(self, name):
        raise AssertionError(f"the dataset was read ({name}) before the parameters were checked")

    def __len__(self):
        raise AssertionError("the dataset was read (len) before the parameters were checked")


#: one bad value per checked parameter of the models whose checks used to run inside _fit (or nowhere);
#: each is refused with a message that ends "got name=value"
BAD_VALUES = {
    "lightgcn": {"dim": 0, "layers": -1, "learning_rate": 0.0, "reg": -1e-4, "epochs": -1, "batch_size": 0,
                 "seed": -1, "threads": 0},
    "multvae": {"hidden": 0, "latent": 2.0, "dropout": 1.0, "anneal_cap": -0.1, "total_anneal_steps": -1,
                "learning_rate": 0.0, "weight_decay": -1.0, "batch_size": 0, "epochs": True, "patience": 0,
                "seed": "1", "threads": 0},
    "recvae": {"hidden": 0, "latent": 0, "dropout": -0.1, "gamma": -1.0, "learning_rate": float("nan"),
               "batch_size": 0, "encoder_epochs": 0, "decoder_epochs": 1.0, "epochs": 0, "patience": 0,
               "seed": None, "threads": 1.5},
    "sasrec": {"max_len": 1, "dim": 0, "layers": 0, "heads": 0, "inner": 0, "dropout": 1.0, "attn_dropout": -0.1,
               "norm": "mid", "stride": 0, "learning_rate": 0.0, "weight_decay": -0.1, "schedule": "linear",
               "warmup_epochs": -1, "batch_size": 0, "epochs": 0, "patience": 0, "average": 0, "ensemble": 0,
               "label_smoothing": 1.0, "history_margin": -1.0, "tie_shuffle": "no", "repeat_score": 1,
               "contrastive": -0.1, "contrastive_positives": "both", "contrastive_temperature": 0.0,
               "tie_output": "no", "output_bias": None, "item_features": "no", "side_vectors": "genres",
               "embedding_cache": 3, "threads": -1, "seed": -1, "verbose": "yes"},
    "two_tower": {"dim": 0, "text": "yes", "genres": 1, "year": None, "history_ids": "no", "attention": 0,
                  "temperature": 0.0, "logq": "true", "id_dropout": 1.0, "max_history": 0, "epochs": 0,
                  "batch_size": 1, "learning_rate": -1e-3, "weight_decay": -0.1, "text_model": "",
                  "embedding_cache": 5, "seed": -1, "ensemble": 0, "threads": 0, "rating_weight": 1.5,
                  "lazy_adam": "yes"},
    "ann": {"base": 3, "base_params": [("factors", 8)], "index": None, "index_params": "nprobe=8"},
}
#: bad values whose message names more than the one parameter
BAD_COMBINATIONS = [
    ("sasrec", {"dim": 30, "heads": 4}, "dim=30 with heads=4"),
    ("sasrec", {"stride": 16}, "stride=16 with max_len=15"),
    ("sasrec", {"epochs": 5, "warmup_epochs": 5}, "warmup_epochs=5 with epochs=5"),
    ("ann", {"base": "ease"}, "base one of the vector models (als, bpr, two_tower, lightgcn), got base='ease'"),
    ("ann", {"base": "alss"}, "got base='alss' (did you mean 'als'?)"),
    ("ann", {"base": "ann"}, "base='ann' would wrap an index in an index"),
    ("ann", {"base_params": {"factors": 0}}, "ALS needs an integer factors >= 1, got factors=0"),
    ("ann", {"base": "two_tower", "base_params": {"temperature": -1.0}}, "got temperature=-1.0"),
    ("ann", {"base_params": {"factor": 8}}, "has no parameter 'factor' (did you mean 'factors'?)"),
    ("ann", {"index": "annoy"}, "unknown index kind 'annoy'"),
    ("ann", {"index_params": {"nprob": 8}}, "bad parameters for index kind 'sq8'"),
    # the index's value ranges that need no vectors (VectorIndex.check_params)
    ("ann", {"index": "ivf", "index_params": {"nprobe": 0}}, "nprobe must be an integer >= 1, got 0"),
    ("ann", {"index": "hnsw", "index_params": {"M": 1}}, "M must be an integer >= 2, got 1"),
    ("ann", {"index_params": {"refine_factor": 0.5}}, "refine_factor=0.5 must be a number >= 1"),
    ("ann", {"index": "ivfpq", "index_params": {"pq_nbits": 0}}, "pq_nbits must be an integer >= 1, got 0"),
    ("ann", {"index": "pq4fs", "index_params": {"pq_m": 0}}, "pq_m must be an integer >= 1, got 0"),
    ("ann", {"index": "exact", "index_params": {"shards": 0}}, "shards must be an integer >= 1, got 0"),
]
BAD_CASES = [(name, {param: value}, f"{param}={value!r}")
             for name, values in BAD_VALUES.items() for param, value in values.items()] + BAD_COMBINATIONS


@pytest.mark.parametrize("name, params, named", BAD_CASES,
                         ids=[f"{name}-{'-'.join(params)}" for name, params, _ in BAD_CASES])
def test_a_bad_value_of_each_parameter_is_refused_before_the_data_is_read(name, params, named):
    model = make_model(name, **params)
    with pytest.raises(ConfigError, match=re.escape(named)):
        model.check_params()  # no data and no torch: as the command line checks before loading a dataset
    with pytest.raises(ConfigError, match=re.escape(named)):
        model.fit(UnreadDataset())
    model.set_params(**{key: make_model(name).get_params()[key] for key in params})
    model.check_params()  # the refusal was about these parameters only


def test_the_vector_models_named_in_messages_are_those_with_query_vectors():
    from recstrata.retrieval.base import Recommender
    from recstrata.retrieval.registry import MODELS, model_class
    from recstrata.retrieval.vector import VECTOR_MODELS

    with_vectors = [name for name in MODELS if name != "ann"
                    and model_class(name).query_vectors is not Recommender.query_vectors]
    assert with_vectors == list(VECTOR_MODELS)
