"""The two-tower's optimiser: one dense AdamW (default), or lazy Adam for the item ID tables.

A dense AdamW step reads and writes every row of the two (n_items, d) ID tables, used or not: at a
million items that is almost all of a training step (BENCHMARKS.md, two-tower scale). Lazy Adam
(the idea of TensorFlow Addons' LazyAdam; here ``torch.optim.SparseAdam``) updates only the rows a
step looked up.
It is a different optimiser, not a faster dense one: an untouched row keeps its moments (they do not
decay) and gets no momentum step, and the bias correction counts global steps, not the row's.
"Looked up" includes rows whose gradient is zero (e.g. a target's history-table row when it sits in
no sampled history): SparseAdam receives them as explicit zero rows, so they take a momentum step from
their earlier moments, which decay, and they are decayed by ``weight_decay``, as in TensorFlow's
LazyAdam. The moments are full-size tables, as for AdamW: lazy Adam saves time (no dense gradient,
no pass over every row), not optimiser memory.
SparseAdam adds ``eps`` before the bias correction: its step is ``lr * m_hat / (sqrt(v_hat) + eps /
sqrt(1 - beta2**t))``, i.e. ``lr * g / (|g| + 3.2e-7)`` at t = 1 where AdamW's is ``lr * g / (|g| + 1e-8)``.

Weight decay on the ID tables stays AdamW's decoupled decay, ``w *= 1 - lr * weight_decay`` before the
Adam step, applied to the looked-up rows only (a row not looked up is not read, so it does not shrink).
"""

from __future__ import annotations

import torch
from torch import nn


def tower_optimiser(item_tower: nn.Module, user_tower: nn.Module, lr: float, weight_decay: float,
                    lazy: bool):
    """AdamW over every parameter, or (``lazy``) :class:`LazyIdAdam`; ``lazy`` needs an item tower built
    with ``sparse=True`` (its ID tables then give row-sparse gradients)."""
    params = list(item_tower.parameters()) + list(user_tower.parameters())
    if not lazy:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    tables = [t.weight for t in (item_tower.ids, item_tower.history_ids) if t is not None]
    dense = [p for p in params if all(p is not t for t in tables)]
    return LazyIdAdam(dense, tables, lr, weight_decay)


class LazyIdAdam:
    """AdamW over the dense parameters, SparseAdam over the ID tables (with decoupled weight decay of
    their touched rows); the ``zero_grad`` / ``step`` of one optimiser."""

    def __init__(self, dense: list[nn.Parameter], tables: list[nn.Parameter], lr: float,
                 weight_decay: float) -> None:
        self.dense = torch.optim.AdamW(dense, lr=lr, weight_decay=weight_decay)
        self.sparse = torch.optim.SparseAdam(tables, lr=lr)  # AdamW's betas and eps
        self.tables = tables
        self.shrink = 1 - lr * weight_decay

    def zero_grad(self) -> None:
        self.dense.zero_grad()
        self.sparse.zero_grad()

    @torch.no_grad()
    def step(self) -> None:
        self.dense.step()
        if self.shrink != 1:
            for w in self.tables:
                if w.grad is not None:
                    w.grad = w.grad.coalesce()  # unique rows (SparseAdam's own coalesce is then free)
                    rows = w.grad.indices()[0]  # (K,) the rows this step looked up
                    w[rows] = w[rows] * self.shrink
        self.sparse.step()
