"""The two towers as torch modules (imported only when a two-tower model trains or scores).

Item tower: ``v_i = norm(id_i * keep_i + T_i W_text + F_i W_feat)`` followed by a residual MLP;
``keep_i`` drops the ID embedding (randomly while training, always for items unseen in training)
so the content path alone must place an item, which is what lets cold items be retrieved.

User tower: importance-weighted mean of the history items' vectors, then a residual MLP. It
has no user-ID parameters, so any history (a new user, new events) gets a vector without retraining.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ResidualMLP(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        nn.init.zeros_(self.out.weight)  # starts as the identity map
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, d) -> (B, d)
        return x + self.out(F.relu(self.hidden(x)))


class ItemTower(nn.Module):
    def __init__(self, n_items: int, dim: int, text_dim: int, feat_dim: int, history_ids: bool,
                 sparse: bool = False) -> None:
        super().__init__()
        # sparse=True: the ID tables get row-sparse gradients (for lazy Adam, see optim.py)
        self.ids = nn.Embedding(n_items, dim, sparse=sparse)
        nn.init.normal_(self.ids.weight, std=0.1)
        self.text = nn.Linear(text_dim, dim, bias=False) if text_dim else None
        self.feat = nn.Linear(feat_dim, dim, bias=False) if feat_dim else None
        self.mlp = ResidualMLP(dim)
        # a second ID table for the item's role as history (asymmetric item-item relations)
        self.history_ids = nn.Embedding(n_items, dim, sparse=sparse) if history_ids else None
        if self.history_ids is not None:
            nn.init.normal_(self.history_ids.weight, std=0.1)

    def forward(
        self, keep: torch.Tensor, text: torch.Tensor | None, feats: torch.Tensor | None,
        rows: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Item vectors: (targets, history inputs), both (R, d) and unit-norm.

        ``rows`` (R,) item indices, or None for the whole catalog (R = N); the inputs are aligned with
        them: keep (R,) 0/1 ID mask; text (R, t) dense; feats (R, f) sparse. Every row is computed on
        its own, so a training step only runs the items it uses.
        """
        z = self._ids(self.ids, rows, keep)  # (R, d)
        if self.text is not None and text is not None:
            z = z + self.text(text)
        if self.feat is not None and feats is not None:
            z = z + torch.sparse.mm(feats, self.feat.weight.T)
        target = F.normalize(self.mlp(z), dim=-1)
        history = target
        if self.history_ids is not None:
            history = F.normalize(target + self._ids(self.history_ids, rows, keep), dim=-1)
        return target, history

    @staticmethod
    def _ids(table: nn.Embedding, rows: torch.Tensor | None, keep: torch.Tensor) -> torch.Tensor:
        """(R, d) the rows' ID embeddings times their 0/1 ``keep`` mask (rows None: the whole table).

        A sparse table looks up only the kept rows, so an ID dropped this step stays out of the sparse
        gradient and lazy Adam leaves its row and moments alone; the values are the same either way.
        """
        if rows is None:
            return table.weight * keep[:, None]
        if not table.sparse:
            return table(rows) * keep[:, None]
        kept = keep.nonzero().squeeze(1)  # (K,) positions in rows
        out = keep.new_zeros(len(rows), table.embedding_dim)
        return out.index_copy(0, kept, table(rows[kept]) * keep[kept, None])


class UserTower(nn.Module):
    def __init__(self, dim: int, attention: bool) -> None:
        super().__init__()
        self.importance = nn.Linear(dim, 1) if attention else None
        if self.importance is not None:
            nn.init.zeros_(self.importance.weight)
            nn.init.zeros_(self.importance.bias)
        self.mlp = ResidualMLP(dim)

    def item_logits(self, history: torch.Tensor) -> torch.Tensor:
        """(N, d) history vectors -> (N,) log importance of each item inside a pooled history."""
        if self.importance is None:
            return history.new_zeros(history.shape[0])
        return self.importance(history).squeeze(-1)

    def forward(self, rows: torch.Tensor, history: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """User vectors (B, d) from whole binary histories ``rows`` (B, N sparse)."""
        w = torch.exp(logits - logits.max())  # (N,) importance weights
        pooled = torch.sparse.mm(rows, w[:, None] * history)  # (B, d)
        total = torch.sparse.mm(rows, w[:, None]).squeeze(-1)  # (B,)
        return self._finish(pooled / total.clamp_min(1e-12)[:, None])

    def forward_sampled(
        self, idx: torch.Tensor, valid: torch.Tensor, history: torch.Tensor, logits: torch.Tensor
    ) -> torch.Tensor:
        """User vectors (B, d) from sampled histories: ``idx`` (B, L) item indices, ``valid`` (B, L) 0/1.

        Training pools a sample of at most L history items (an unbiased estimate of the weighted
        mean, and much cheaper than the whole history for heavy users).
        """
        w = torch.exp(logits - logits.max())[idx] * valid  # (B, L)
        pooled = (w[..., None] * history[idx]).sum(1)  # (B, d)
        return self._finish(pooled / w.sum(1).clamp_min(1e-12)[:, None])

    def _finish(self, pooled: torch.Tensor) -> torch.Tensor:  # (B, d) -> (B, d) unit vectors
        return F.normalize(self.mlp(pooled), dim=-1)
