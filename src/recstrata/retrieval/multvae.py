"""Mult-VAE: variational autoencoder with a multinomial likelihood (Liang et al., "Variational
Autoencoders for Collaborative Filtering", WWW 2018), torch on CPU.

A user's binary history x (n_items,) is L2-normalised, passed through input dropout and encoded
to a Gaussian q(z | x) = N(μ, diag σ²); the decoder maps z to logits over the catalog and the
history's log-likelihood is Σ_i x_i log softmax(logits)_i. The loss per user is

    -Σ_i x_i log softmax(f(z))_i + β · KL(q(z | x) || N(0, I)),

with β annealed linearly from 0 to ``anneal_cap`` over ``total_anneal_steps`` optimiser updates
(the paper's partially regularised objective). Encoder [n_items -> hidden -> 2·latent], decoder
[latent -> hidden -> n_items], tanh between layers, Adam.

Scoring a history is deterministic: the decoder applied to the encoder's mean μ (no dropout, no
sampling). Known users are scored from their training history the same way, so a user with new
events gets new scores from ``recommend(histories=...)`` without retraining.

    model = MultVAE().fit(split.train, valid=split)   # early stopping on split's validation NDCG@10

With ``valid`` (a :class:`~recstrata.data.split.Split` whose ``train`` is the fitted dataset),
validation NDCG@10 is computed after every epoch and the best epoch's weights are kept (stop after
``patience`` epochs without improvement); without it the model trains for ``epochs`` epochs.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from recstrata.data.dataset import Dataset
from recstrata.errors import ConfigError
from recstrata.retrieval._torch import load_module_arrays, module_arrays, seeded, torch_module
from recstrata.retrieval._torch import threads as torch_threads
from recstrata.retrieval.base import Recommender

_NET_PREFIX = "net."


def _build_net(torch, n_items: int, hidden: int, latent: int, dropout: float):
    """The encoder/decoder pair as one module; ``forward`` returns (logits, μ, log σ²)."""
    nn, fn = torch.nn, torch.nn.functional

    class MultVAENet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc_hidden = nn.Linear(n_items, hidden)
            self.enc_out = nn.Linear(hidden, 2 * latent)  # μ and log σ² side by side
            self.dec_hidden = nn.Linear(latent, hidden)
            self.dec_out = nn.Linear(hidden, n_items)
            for layer in (self.enc_hidden, self.enc_out, self.dec_hidden, self.dec_out):
                nn.init.xavier_normal_(layer.weight)  # as in the paper's code
                nn.init.normal_(layer.bias, std=0.001)

        def encode(self, x):  # (B, n_items) -> (B, latent) x 2
            x = fn.dropout(fn.normalize(x, dim=1), p=dropout, training=self.training)
            mu, logvar = self.enc_out(torch.tanh(self.enc_hidden(x))).chunk(2, dim=1)
            return mu, logvar

        def decode(self, z):  # (B, latent) -> (B, n_items) logits
            return self.dec_out(torch.tanh(self.dec_hidden(z)))

        def forward(self, x):
            mu, logvar = self.encode(x)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
            return self.decode(z), mu, logvar

    return MultVAENet()


class MultVAE(Recommender):
    name = "multvae"

    def __init__(
        self,
        hidden: int = 600,
        latent: int = 200,
        dropout: float = 0.5,
        anneal_cap: float = 0.2,
        total_anneal_steps: int = 200_000,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 500,
        epochs: int = 200,
        patience: int = 20,
        seed: int = 2020,
        threads: int | None = 1,
    ) -> None:
        self.hidden = hidden
        self.latent = latent
        self.dropout = dropout
        self.anneal_cap = anneal_cap
        self.total_anneal_steps = total_anneal_steps
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.seed = seed
        self.threads = threads

    # ---- fitting ----------------------------------------------------------------------------------
    def fit(self, dataset: Dataset, valid: Any = None) -> MultVAE:
        """Train on ``dataset``'s binary histories; ``valid`` (a Split) enables early stopping."""
        if valid is not None and getattr(valid, "train", None) is not dataset:
            raise ConfigError("valid must be the Split whose .train is the dataset being fitted: "
                              "fit(split.train, valid=split)")
        self._valid = valid
        try:
            return super().fit(dataset)
        finally:
            del self._valid

    def _check_params(self) -> None:
        def positive_int(name: str, minimum: int = 1) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise ConfigError(f"MultVAE needs an integer {name} >= {minimum}, got {name}={value!r}")

        for name in ("hidden", "latent", "batch_size", "epochs", "patience"):
            positive_int(name)
        positive_int("total_anneal_steps", 0)
        if self.threads is not None:
            positive_int("threads")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"MultVAE needs 0 <= dropout < 1, got dropout={self.dropout!r}")
        if not self.anneal_cap >= 0.0:
            raise ConfigError(f"MultVAE needs anneal_cap >= 0, got anneal_cap={self.anneal_cap!r}")
        if not self.learning_rate > 0.0:
            raise ConfigError(f"MultVAE needs learning_rate > 0, got learning_rate={self.learning_rate!r}")
        if not self.weight_decay >= 0.0:
            raise ConfigError(f"MultVAE needs weight_decay >= 0, got weight_decay={self.weight_decay!r}")

    def _fit(self, dataset: Dataset) -> None:
        self._check_params()
        torch = torch_module(f"the {self.name} model")
        with torch_threads(self.threads), seeded(self.seed):
            self.net_ = _build_net(torch, self.n_items_, self.hidden, self.latent, self.dropout)
            self._train(torch, self.seen_, np.random.default_rng(self.seed))
        self.net_.eval()

    def beta(self, step: int) -> float:
        """KL weight after ``step`` optimiser updates: linear from 0, capped at ``anneal_cap``."""
        if self.total_anneal_steps == 0:
            return float(self.anneal_cap)
        return min(float(self.anneal_cap), step / self.total_anneal_steps)

    def _train(self, torch, X: sp.csr_matrix, rng: np.random.Generator) -> None:
        from recstrata.evaluation import evaluate

        net = self.net_
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        users = np.flatnonzero(np.diff(X.indptr) > 0)  # users with no history carry no signal
        step, best, stale = 0, -np.inf, 0
        best_state = None
        self.train_loss_, self.valid_ndcg_, self.epoch_seconds_ = [], [], []
        self.best_epoch_ = None
        for epoch in range(self.epochs):
            start = time.perf_counter()
            net.train()
            order = rng.permutation(users)
            total = 0.0
            for s in range(0, len(order), self.batch_size):
                batch = order[s : s + self.batch_size]
                x = torch.from_numpy(X[batch].toarray())  # (B, n_items)
                logits, mu, logvar = net(x)
                nll = -(torch.log_softmax(logits, dim=1) * x).sum(1).mean()
                kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
                loss = nll + self.beta(step) * kl
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                total += float(loss.detach()) * len(batch)
            self.train_loss_.append(total / max(len(order), 1))
            self.epoch_seconds_.append(time.perf_counter() - start)
            if self._valid is None:
                continue
            net.eval()
            result = evaluate(self, self._valid, "valid", ks=[10], beyond_accuracy=False, group_by=[])
            ndcg = result.metrics["ndcg@10"]
            self.valid_ndcg_.append(ndcg)
            if ndcg > best:
                best, stale, self.best_epoch_ = ndcg, 0, epoch + 1
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
                if stale >= self.patience:
                    break
        self.epochs_run_ = len(self.train_loss_)
        if best_state is not None:
            net.load_state_dict(best_state)

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

    def item_vectors(self) -> np.ndarray:
        """(n_items, hidden) output-layer weights of the decoder (used for item similarity)."""
        self._check_fitted()
        return self.net_.dec_out.weight.detach().numpy().copy()

    # ---- persistence ------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return module_arrays(self.net_, _NET_PREFIX)

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        torch = torch_module(f"loading the {self.name} model")
        with seeded(self.seed):  # the throw-away initial weights must not draw from the caller's RNG
            self.net_ = _build_net(torch, self.n_items_, self.hidden, self.latent, self.dropout)
        load_module_arrays(self.net_, arrays, _NET_PREFIX)
        self.net_.eval()
