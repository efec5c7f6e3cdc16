"""The SASRec network (Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018).

Imports torch at module level: import this module only through ``recstrata.retrieval.sasrec``,
which checks that torch is installed first.

Two block layouts (``norm``): ``"pre"`` is close to the paper's code (item embeddings scaled by
sqrt(dim), LayerNorm before each residual branch, a final LayerNorm); ``"post"`` is RecBole's
(LayerNorm + dropout on the embedding sum, LayerNorm after each residual sum, no scaling). Both
use GELU, one fused QKV projection and ``scaled_dot_product_attention``. Item index 0
is padding; real item ``i`` is row ``i + 1`` of the embedding table, which is also the output
layer (tied weights, as in the paper). Sequences are left-padded to ``max_len``, so the latest
item always sits at the last position.

Options beyond the paper: ``tie_output=False`` scores items with a separate output table (the input
table then only encodes the history), ``output_bias`` adds a learned per-item bias to the scores, and
``n_features > 0`` adds a linear embedding of each item's feature vector (a buffer, e.g. its genres
normalised to sum 1) to its ID embedding at the input, as RecBole's SASRecF sums feature and ID
embeddings; the output side stays ID-only. ``repeat_score`` adds ``repeat`` (a linear map of the
hidden state to one number, zero at the start) to the scores of the items in the network's own input;
:class:`~recstrata.retrieval.sasrec.SASRec` applies it, in training and scoring alike.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """Causal self-attention + position-wise feed-forward, each in a residual branch (pre- or post-LN)."""

    def __init__(self, dim: int, heads: int, inner: int, dropout: float, attn_dropout: float, post: bool) -> None:
        super().__init__()
        self.heads = heads
        self.post = post
        self.attn_dropout = attn_dropout
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, inner), nn.GELU(), nn.Dropout(dropout), nn.Linear(inner, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, C) states and a (B, 1, T, T) boolean attention mask -> (B, T, C)."""
        if self.post:
            x = self.ln1(x + self.drop(self.attend(x, mask)))
            return self.ln2(x + self.drop(self.ff(x)))
        x = x + self.drop(self.attend(self.ln1(x), mask))
        return x + self.drop(self.ff(self.ln2(x)))

    def attend(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape  # (B, T, C)
        q, k, v = self.qkv(x).split(c, dim=2)  # 3 x (B, T, C)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))  # (B, H, T, C/H)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.attn_dropout if self.training else 0.0
        )  # (B, H, T, C/H)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))  # (B, T, C)


class SASRecNet(nn.Module):
    def __init__(
        self, n_items: int, max_len: int, dim: int, layers: int, heads: int, inner: int,
        dropout: float, attn_dropout: float, norm: str = "pre", tie_output: bool = True,
        output_bias: bool = False, n_features: int = 0, repeat_score: bool = False,
    ) -> None:
        super().__init__()
        post = norm == "post"
        self.items = nn.Embedding(n_items + 1, dim, padding_idx=0)  # row 0 = padding
        self.positions = nn.Embedding(max_len, dim)
        self.scale = 1.0 if post else dim**0.5
        self.ln_in = nn.LayerNorm(dim) if post else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(dim, heads, inner, dropout, attn_dropout, post) for _ in range(layers))
        self.ln = nn.Identity() if post else nn.LayerNorm(dim)
        # created after the paper's modules so the default network's initial weights do not change
        self.out = None if tie_output else nn.Embedding(n_items, dim)  # (n_items, C), no padding row
        self.bias = nn.Parameter(torch.zeros(n_items)) if output_bias else None
        self.features = nn.Linear(n_features, dim, bias=False) if n_features else None
        # (n_items + 1, F) item feature rows, row 0 = padding; saved with the weights
        self.register_buffer("item_features", torch.zeros(n_items + 1, n_features) if n_features else None)
        # the learned score of re-recommending an item of the input window (starts at 0: plain SASRec)
        self.repeat = nn.Linear(dim, 1) if repeat_score else None
        self.apply(self._init)
        if self.repeat is not None:
            nn.init.zeros_(self.repeat.weight)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """Left-padded item rows (B, T), 0 = padding -> hidden state after each position (B, T, C).

        ``T`` may be shorter than ``max_len``: the columns are the *last* T positions, so leading
        all-padding columns can be dropped without changing any result.
        """
        b, t = seq.shape
        real = seq > 0  # (B, T)
        # position t attends to real items at positions <= t, and always to itself so that a row
        # of padding never has an empty softmax (its output is ignored anyway)
        causal = torch.ones(t, t, dtype=torch.bool, device=seq.device).tril()  # (T, T)
        eye = torch.eye(t, dtype=torch.bool, device=seq.device)
        mask = (causal & real[:, None, :]) | eye  # (B, T, T)
        max_len = self.positions.num_embeddings
        pos = torch.arange(max_len - t, max_len, device=seq.device)
        emb = self.items(seq)  # (B, T, C)
        if self.features is not None:
            emb = emb + self.features(self.item_features[seq])  # (B, T, F) -> (B, T, C)
        x = self.ln_in(emb * self.scale + self.positions(pos))  # (B, T, C)
        x = self.drop(x) * real[..., None]
        mask = mask[:, None]  # (B, 1, T, T): shared by all heads
        for block in self.blocks:
            x = block(x, mask)
        return self.ln(x)

    def item_table(self) -> torch.Tensor:
        """Output embeddings of the real items (n_items, C)."""
        return self.items.weight[1:] if self.out is None else self.out.weight

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        """Logits (N, n_items) of hidden states (N, C): dot products with the output table (+ bias)."""
        logits = h @ self.item_table().T
        return logits if self.bias is None else logits + self.bias
