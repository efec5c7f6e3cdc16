"""Model names -> classes (imported lazily so heavy optional dependencies load only when used)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable

from recstrata.errors import ConfigError
from recstrata.retrieval._params import did_you_mean, unknown_parameter

# name -> "module:Class"
MODELS: dict[str, str] = {
    "pop": "recstrata.retrieval.popularity:Popularity",
    "itemknn": "recstrata.retrieval.itemknn:ItemKNN",
    "userknn": "recstrata.retrieval.userknn:UserKNN",
    "ease": "recstrata.retrieval.ease:EASE",
    "rp3beta": "recstrata.retrieval.rp3beta:RP3beta",
    "edlae": "recstrata.retrieval.edlae:EDLAE",
    "gfcf": "recstrata.retrieval.gfcf:GFCF",
    "als": "recstrata.retrieval.als:ALS",
    "bpr": "recstrata.retrieval.bpr:BPR",
    "two_tower": "recstrata.retrieval.two_tower:TwoTower",
    "lightgcn": "recstrata.retrieval.lightgcn:LightGCN",
    "multvae": "recstrata.retrieval.multvae:MultVAE",
    "recvae": "recstrata.retrieval.recvae:RecVAE",
    "sasrec": "recstrata.retrieval.sasrec:SASRec",
    # a vector model (base=, base_params=) served by ANN search (index=, index_params=)
    "ann": "recstrata.retrieval.vector:VectorRetriever",
}

#: hyper-parameter grids searched on the validation split (never on test)
SEARCH_SPACES: dict[str, dict[str, list]] = {
    "pop": {},
    "itemknn": {"k": [20, 50, 100, 200], "shrink": [0.0, 10.0]},
    "ease": {"reg": [50.0, 100.0, 250.0, 500.0, 1000.0], "rating_weight": [0.0, 0.5]},
    "rp3beta": {"k": [100, 200, 400], "alpha": [0.5, 1.0], "beta": [0.0, 0.3, 0.6]},
    "edlae": {"dropout": [0.1, 0.33, 0.5], "reg": [50.0, 200.0, 500.0, 1000.0], "zero_diagonal": [True, False]},
    "gfcf": {"k": [32, 64, 128, 256], "alpha": [0.1, 0.3, 1.0]},
    "als": {"factors": [32, 64], "regularization": [5.0, 10.0, 20.0], "alpha": [1.0, 2.0, 4.0]},
    "bpr": {"factors": [64], "learning_rate": [0.005, 0.01], "regularization": [0.01, 0.05], "iterations": [200]},
    "two_tower": {"epochs": [10, 20], "temperature": [0.05, 0.1]},
    "lightgcn": {"epochs": [100, 300], "reg": [1e-4, 1e-3]},
    "userknn": {"k": [50, 80], "asymmetry": [0.3, 0.4, 0.5], "locality": [1.0, 3.0]},
    # the autoencoders early-stop on validation inside the grid search (experiment.tune), which
    # pins the chosen epoch count (ML-100K's validation-tuned values: bench/results/sources-vae.md)
    "multvae": {"batch_size": [128, 256], "learning_rate": [5e-4], "total_anneal_steps": [2000],
                "anneal_cap": [0.5]},
    "recvae": {"batch_size": [100, 250]},
}


def check_model_names(names: Iterable[str]) -> None:
    """ConfigError for the first name that is not a registered model (nothing is imported)."""
    for name in names:
        if name not in MODELS:
            raise ConfigError(f"unknown model {name!r}{did_you_mean(name, MODELS)}; available: {', '.join(MODELS)}")


def model_class(name: str) -> type:
    check_model_names([name])
    module, _, cls = MODELS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def make_model(name: str, **params):
    """Instantiate a model by name with hyper-parameters; a parameter its constructor does not take
    is a ConfigError naming it, the closest accepted one and all of them (not a TypeError)."""
    cls = model_class(name)
    signature = inspect.signature(cls.__init__).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in signature.values()):
        accepted = [p for p in signature if p != "self"]
        for key in params:
            if key not in accepted:
                raise unknown_parameter(f"model {name!r} ({cls.__name__})", key, accepted)
    return cls(**params)
