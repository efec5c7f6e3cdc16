"""RecVAE (Shenbin et al., "RecVAE: a New Variational Autoencoder for Top-N Recommendations with
Implicit Feedback", WSDM 2020), torch on CPU; follows the authors' reference implementation.

Mult-VAE's model (:mod:`recstrata.retrieval.multvae`) with four changes:

- encoder: five densely connected layers (each layer's input is the sum of all earlier layers'
  outputs) with swish activations and layer normalisation; decoder: one linear layer;
- composite prior p(z) = 3/20·N(0, I) + 3/4·q_old(z | x) + 1/10·N(0, e¹⁰ I), q_old the encoder as
  it was before the current epoch's decoder updates (a moving target that keeps the posterior
  from drifting);
- the KL weight of a user is ``gamma`` x their number of items (β(x) = γ|x|), not an annealed β;
- alternating updates: ``encoder_epochs`` passes over the users updating only the encoder (input
  dropout on), then the prior's copy of the encoder is refreshed, then ``decoder_epochs`` passes
  updating only the decoder (dropout off). One such round is one epoch of ``epochs``.

Scoring is decoder(μ) of the L2-normalised history, so any history - new or updated - is scored
without retraining; early stopping with ``fit(split.train, valid=split)`` as for Mult-VAE.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from recstrata.retrieval._autoencoder import _NET_PREFIX, UserAutoencoder
from recstrata.retrieval._params import check_int, check_number

#: mixture weights of the composite prior: standard normal, previous posterior, wide normal (paper)
PRIOR_WEIGHTS = (3 / 20, 3 / 4, 1 / 10)
#: log-variance of the wide ("uniform-like") prior component (paper's code)
WIDE_LOGVAR = 10.0


def _log_normal(z, mu, logvar):
    """Elementwise log N(z; μ, diag e^logvar)."""
    return -0.5 * (logvar + math.log(2 * math.pi) + (z - mu).pow(2) / logvar.exp())


def _build_net(torch, n_items: int, hidden: int, latent: int):
    nn, fn = torch.nn, torch.nn.functional

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(
                [nn.Linear(n_items, hidden)] + [nn.Linear(hidden, hidden) for _ in range(4)]
            )
            self.norms = nn.ModuleList([nn.LayerNorm(hidden, eps=0.1) for _ in range(5)])
            self.mu = nn.Linear(hidden, latent)
            self.logvar = nn.Linear(hidden, latent)

        def forward(self, x, dropout: float = 0.0):  # (B, n_items) -> (B, latent) x 2
            x = fn.dropout(fn.normalize(x, dim=1), p=dropout, training=self.training)
            outs = []
            for layer, norm in zip(self.layers, self.norms, strict=True):
                pre = layer(x if not outs else outs[-1]) + sum(outs)  # dense connections
                outs.append(norm(fn.silu(pre)))
            return self.mu(outs[-1]), self.logvar(outs[-1])

    class RecVAENet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = Encoder()
            self.old_encoder = Encoder().requires_grad_(False)  # q_old in the composite prior
            self.decoder = nn.Linear(latent, n_items)

        def encode(self, x, dropout: float = 0.0):
            return self.encoder(x, dropout)

        def decode(self, z):  # (B, latent) -> (B, n_items) logits
            return self.decoder(z)

        def log_prior(self, x, z):  # (B, latent) log p(z) under the composite prior
            with torch.no_grad():
                self.old_encoder.eval()
                old_mu, old_logvar = self.old_encoder(x)
            zero = torch.zeros_like(z)
            parts = [_log_normal(z, zero, zero), _log_normal(z, old_mu, old_logvar),
                     _log_normal(z, zero, zero + WIDE_LOGVAR)]
            weighted = [p + math.log(w) for p, w in zip(parts, PRIOR_WEIGHTS, strict=True)]
            return torch.logsumexp(torch.stack(weighted, -1), -1)

        def refresh_prior(self) -> None:
            self.old_encoder.load_state_dict(self.encoder.state_dict())

    return RecVAENet()


class RecVAE(UserAutoencoder):
    name = "recvae"

    def __init__(
        self,
        hidden: int = 600,
        latent: int = 200,
        dropout: float = 0.5,
        gamma: float = 0.005,
        learning_rate: float = 5e-4,
        batch_size: int = 500,
        encoder_epochs: int = 3,
        decoder_epochs: int = 1,
        epochs: int = 50,
        patience: int = 10,
        seed: int = 2020,
        threads: int | None = 1,
    ) -> None:
        self.hidden = hidden
        self.latent = latent
        self.dropout = dropout
        self.gamma = gamma
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.encoder_epochs = encoder_epochs
        self.decoder_epochs = decoder_epochs
        self.epochs = epochs
        self.patience = patience
        self.seed = seed
        self.threads = threads

    def check_params(self) -> None:
        super().check_params()  # hidden, latent, batch_size, dropout, learning_rate, epochs, ...
        for name in ("encoder_epochs", "decoder_epochs"):
            check_int(self, name)
        check_number(self, "gamma", 0.0)

    def _build(self, torch):
        return _build_net(torch, self.n_items_, self.hidden, self.latent)

    def _train(self, torch, X: sp.csr_matrix, rng: np.random.Generator) -> None:
        net = self.net_
        self._encoder_opt = torch.optim.Adam(net.encoder.parameters(), lr=self.learning_rate)
        self._decoder_opt = torch.optim.Adam(net.decoder.parameters(), lr=self.learning_rate)
        try:
            super()._train(torch, X, rng)
        finally:
            del self._encoder_opt, self._decoder_opt  # training-only state

    def _train_epoch(self, torch, X: sp.csr_matrix, users: np.ndarray, rng: np.random.Generator) -> float:
        for _ in range(self.encoder_epochs):
            self._pass(torch, X, users, rng, self._encoder_opt, self.dropout)
        self.net_.refresh_prior()
        loss = 0.0
        for _ in range(self.decoder_epochs):
            loss = self._pass(torch, X, users, rng, self._decoder_opt, 0.0)
        return loss

    def _pass(self, torch, X, users, rng, opt, dropout: float) -> float:
        """One pass over ``users`` stepping only ``opt``'s parameters; returns the mean negative ELBO."""
        net = self.net_
        order = rng.permutation(users)
        total = 0.0
        for s in range(0, len(order), self.batch_size):
            x = self._dense(torch, X, order[s : s + self.batch_size])  # (B, n_items)
            mu, logvar = net.encode(x, dropout)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)  # (B, latent)
            nll = -(torch.log_softmax(net.decode(z), dim=1) * x).sum(1).mean()
            kl_weight = self.gamma * x.sum(1)  # (B,): β(x) = γ|x|
            kl = ((_log_normal(z, mu, logvar) - net.log_prior(x, z)).sum(1) * kl_weight).mean()
            loss = nll + kl
            net.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(x)
        return total / max(len(order), 1)

    # ---- persistence: the prior's frozen encoder copy only matters while training --------------------
    _OLD = _NET_PREFIX + "old_encoder."

    def _state(self) -> dict[str, np.ndarray]:
        return {k: v for k, v in super()._state().items() if not k.startswith(self._OLD)}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        # artefacts saved before this change also hold the old encoder: scoring never reads it, so it is
        # restored as a copy of the encoder either way (what ``refresh_prior`` would set)
        encoder = _NET_PREFIX + "encoder."
        kept = {k: v for k, v in arrays.items() if not k.startswith(self._OLD)}
        kept.update({self._OLD + k[len(encoder):]: v for k, v in arrays.items() if k.startswith(encoder)})
        super()._set_state(kept)

    def item_vectors(self) -> np.ndarray:
        """(n_items, latent) decoder weights: scores are μ · item vector + item bias."""
        self._check_fitted()
        return self.net_.decoder.weight.detach().numpy().copy()
