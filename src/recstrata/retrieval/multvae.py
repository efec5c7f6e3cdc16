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

The defaults are the paper's ML-20M settings. On a small dataset they leave β near 0 (few updates
an epoch); ML-100K's validation chose batch 256, lr 5e-4, 2000 annealing steps to a cap of 0.5,
157 epochs (``bench/results/sources-vae.md``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recstrata.retrieval._autoencoder import UserAutoencoder
from recstrata.retrieval._params import check_int, check_number


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


class MultVAE(UserAutoencoder):
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

    def check_params(self) -> None:
        super().check_params()  # hidden, latent, batch_size, dropout, learning_rate, epochs, ...
        check_int(self, "total_anneal_steps", 0)
        check_number(self, "anneal_cap", 0.0)
        check_number(self, "weight_decay", 0.0)

    def _build(self, torch):
        return _build_net(torch, self.n_items_, self.hidden, self.latent, self.dropout)

    def beta(self, step: int) -> float:
        """KL weight after ``step`` optimiser updates: linear from 0, capped at ``anneal_cap``."""
        if self.total_anneal_steps == 0:
            return float(self.anneal_cap)
        return min(float(self.anneal_cap), step / self.total_anneal_steps)

    def _train_epoch(self, torch, X: sp.csr_matrix, users: np.ndarray, rng: np.random.Generator) -> float:
        net = self.net_
        order = rng.permutation(users)
        total = 0.0
        for s in range(0, len(order), self.batch_size):
            batch = order[s : s + self.batch_size]
            x = self._dense(torch, X, batch)  # (B, n_items)
            logits, mu, logvar = net(x)
            nll = -(torch.log_softmax(logits, dim=1) * x).sum(1).mean()
            kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
            loss = nll + self.beta(self._steps) * kl
            self._opt.zero_grad(set_to_none=True)
            loss.backward()
            self._opt.step()
            self._steps += 1
            total += float(loss.detach()) * len(batch)
        return total / max(len(order), 1)

    def _train(self, torch, X: sp.csr_matrix, rng: np.random.Generator) -> None:
        self._opt = torch.optim.Adam(self.net_.parameters(), lr=self.learning_rate,
                                     weight_decay=self.weight_decay)
        self._steps = 0  # optimiser updates so far: drives the KL annealing
        try:
            super()._train(torch, X, rng)
        finally:
            del self._opt, self._steps  # training-only state: not part of the fitted model

    def item_vectors(self) -> np.ndarray:
        """(n_items, hidden) output-layer weights of the decoder (used for item similarity)."""
        self._check_fitted()
        return self.net_.dec_out.weight.detach().numpy().copy()
