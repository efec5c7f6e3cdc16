"""Shared parts of the torch user-autoencoders (Mult-VAE, RecVAE): a user is their binary history
row; ``fit(dataset, valid=split)`` trains epoch by epoch with optional early stopping on validation
NDCG@10 (the best epoch's weights are kept); scoring encodes a history to its posterior mean and
decodes it, so any history - new or updated - is scored without retraining; weights are saved as
plain arrays.

Scale: both networks read a dense (batch, n_items) input and decode a full softmax over the catalog.
At the default sizes and 1M items: Mult-VAE holds two (n_items, 600) weight matrices, 4.8 GB; RecVAE
an (n_items, 600) encoder layer and an (n_items, 200) decoder, 3.2 GB saved, 5.6 GB in memory with
the prior's frozen encoder copy; a batch of 500 users needs another ~4 GB (input + logits), before
Adam's two moment copies of every weight. They are meant for catalogs up to ~100k items; at
millions serve a sampled-softmax model (the two-tower) or a linear / factor model through the ANN
index.

Subclasses set ``name``, implement ``_build`` (the network, with ``encode(x) -> (μ, log σ²)`` and
``decode(z) -> logits``) and ``_train_epoch``, extend ``check_params`` with their own parameters, and
keep the parameters checked here (``seed``, ``threads``, ``epochs``, ``patience``, ``hidden``, ...).
"""

from __future__ import annotations

import time
from abc import abstractmethod
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from recstrata.data.dataset import Dataset
from recstrata.errors import ConfigError
from recstrata.retrieval._torch import load_module_arrays, module_arrays, seeded, torch_module
from recstrata.retrieval._torch import threads as torch_threads
from recstrata.retrieval._params import check_int, check_number
from recstrata.retrieval.base import Recommender

_NET_PREFIX = "net."


class UserAutoencoder(Recommender):
    seed: int
    threads: int | None
    epochs: int
    patience: int
    # checked here for every subclass (each extends check_params with its own parameters)
    hidden: int
    latent: int
    batch_size: int
    dropout: float
    learning_rate: float

    # ---- fitting ----------------------------------------------------------------------------------
    def fit(self, dataset: Dataset, valid: Any = None) -> Self:
        """Train on ``dataset``'s binary histories; ``valid`` (a Split) enables early stopping."""
        if valid is not None and getattr(valid, "train", None) is not dataset:
            raise ConfigError("valid must be the Split whose .train is the dataset being fitted: "
                              "fit(split.train, valid=split)")
        self._valid = valid
        try:
            return super().fit(dataset)
        finally:
            del self._valid

    def check_params(self) -> None:
        for name in ("epochs", "patience", "hidden", "latent", "batch_size"):
            check_int(self, name)
        check_number(self, "dropout", 0.0, 1.0, high_open=True)
        check_number(self, "learning_rate", 0.0, low_open=True)
        check_int(self, "seed", 0)
        check_int(self, "threads", none="torch's default")

    @abstractmethod
    def _build(self, torch):
        """A fresh network for ``self.n_items_`` items (weights drawn from torch's current RNG)."""

    @abstractmethod
    def _train_epoch(self, torch, X: sp.csr_matrix, users: np.ndarray, rng: np.random.Generator) -> float:
        """One training epoch over ``users`` (rows of ``X`` with a history); returns the mean loss."""

    def _fit(self, dataset: Dataset) -> None:
        torch = torch_module(f"the {self.name} model")
        with torch_threads(self.threads), seeded(self.seed):
            self.net_ = self._build(torch)
            self._train(torch, self.seen_, np.random.default_rng(self.seed))
        self.net_.eval()

    def early_stopped_params(self) -> dict[str, Any]:
        """Parameters under which a fit *without* ``valid=`` trains the model early stopping kept
        (training is seeded and validation draws no random numbers): ``{"epochs": best epoch}``;
        empty when the last fit did not early-stop."""
        best = getattr(self, "best_epoch_", None)
        return {} if best is None else {"epochs": int(best)}

    def _train(self, torch, X: sp.csr_matrix, rng: np.random.Generator) -> None:
        from recstrata.evaluation import evaluate

        users = np.flatnonzero(np.diff(X.indptr) > 0)  # users with no history carry no signal
        best, stale, best_state = -np.inf, 0, None
        self.train_loss_, self.valid_ndcg_, self.epoch_seconds_ = [], [], []
        self.best_epoch_ = None
        for epoch in range(self.epochs):
            start = time.perf_counter()
            self.net_.train()
            self.train_loss_.append(self._train_epoch(torch, X, users, rng))
            self.epoch_seconds_.append(time.perf_counter() - start)
            if self._valid is None:
                continue
            self.net_.eval()
            result = evaluate(self, self._valid, "valid", ks=[10], beyond_accuracy=False, group_by=[])
            ndcg = result.metrics["ndcg@10"]
            self.valid_ndcg_.append(ndcg)
            if ndcg > best:
                best, stale, self.best_epoch_ = ndcg, 0, epoch + 1
                best_state = {k: v.detach().clone() for k, v in self.net_.state_dict().items()}
            else:
                stale += 1
                if stale >= self.patience:
                    break
        self.epochs_run_ = len(self.train_loss_)
        if best_state is not None:
            self.net_.load_state_dict(best_state)

    @staticmethod
    def _dense(torch, X: sp.csr_matrix, rows: np.ndarray):
        return torch.from_numpy(X[rows].toarray())  # (B, n_items) float32

    # ---- scoring ----------------------------------------------------------------------------------
    def _score_histories(self, histories: sp.csr_matrix) -> np.ndarray:
        torch = torch_module(f"the {self.name} model")
        net = self.net_
        net.eval()
        out = np.zeros((histories.shape[0], self.n_items_), np.float32)
        with torch_threads(self.threads), torch.inference_mode():
            for s in range(0, histories.shape[0], 1024):
                x = torch.from_numpy(sp.csr_matrix(histories[s : s + 1024], dtype=np.float32).toarray())
                out[s : s + 1024] = net.decode(net.encode(x)[0]).numpy()  # decoder(μ): (B, n_items)
        return out

    # ---- persistence ------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return module_arrays(self.net_, _NET_PREFIX)

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        torch = torch_module(f"loading the {self.name} model")
        with seeded(self.seed):  # the throw-away initial weights must not draw from the caller's RNG
            self.net_ = self._build(torch)
        load_module_arrays(self.net_, arrays, _NET_PREFIX)
        self.net_.eval()
