"""Merged candidate lists: the union of what several retrievers proposed, with provenance.

Each retriever returns ``(ids, scores)`` of shape ``(n, N_s)`` (padded with id -1). Merging keeps
one column per distinct item in a row and remembers, per source, the score and the 1-based rank
it gave the item (NaN where the source did not propose it). Fully vectorised: one ``np.unique``
over ``row * n_items + item`` keys, then one ``searchsorted`` per source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recstrata.errors import ConfigError


@dataclass(frozen=True)
class Candidates:
    """Candidates for ``n`` requests, ``C`` columns (rows shorter than C are padded with item -1)."""

    sources: tuple[str, ...]
    items: np.ndarray  # (n, C) int64, -1 = padding
    scores: np.ndarray  # (S, n, C) float32, NaN where source s did not propose the item
    ranks: np.ndarray  # (S, n, C) float32, 1-based rank within source s, NaN where not proposed

    @property
    def valid(self) -> np.ndarray:
        """(n, C) bool: real candidates (not padding)."""
        return self.items >= 0

    @property
    def proposed(self) -> np.ndarray:
        """(S, n, C) bool: source s proposed the item."""
        return ~np.isnan(self.ranks)

    @property
    def shape(self) -> tuple[int, int]:
        return self.items.shape  # type: ignore[return-value]


def merge_candidates(
    sources: Sequence[str], results: Sequence[tuple[np.ndarray, np.ndarray]], n_items: int
) -> Candidates:
    """Union of several ``(ids, scores)`` top-N lists per row, deduplicated, provenance kept."""
    if len(sources) != len(results) or not sources:
        raise ConfigError("merge_candidates needs one (ids, scores) result per source, and at least one source")
    n = results[0][0].shape[0]
    per_source = []
    for ids, scores in results:
        if ids.shape[0] != n or ids.shape != scores.shape:
            raise ConfigError(f"every source must return ({n}, N) ids and scores; got {ids.shape} and {scores.shape}")
        row, pos = np.nonzero(ids >= 0)  # row-major: pos is the 0-based rank in that row
        per_source.append((row, pos, row.astype(np.int64) * n_items + ids[row, pos], scores[row, pos]))
    keys = np.unique(np.concatenate([p[2] for p in per_source]))
    urow, uitem = keys // n_items, keys % n_items
    counts = np.bincount(urow, minlength=n)
    width = max(int(counts.max(initial=0)), 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ucol = np.arange(len(keys)) - starts[urow]

    items = np.full((n, width), -1, np.int64)
    items[urow, ucol] = uitem
    out_scores = np.full((len(sources), n, width), np.nan, np.float32)
    out_ranks = np.full((len(sources), n, width), np.nan, np.float32)
    for s, (row, pos, k, sc) in enumerate(per_source):
        at = np.searchsorted(keys, k)
        out_scores[s, row, ucol[at]] = sc
        out_ranks[s, row, ucol[at]] = pos + 1
    return Candidates(tuple(sources), items, out_scores, out_ranks)


def concat_candidates(parts: Sequence[Candidates]) -> Candidates:
    """Stack the rows of several :class:`Candidates` of the same sources (widths padded to the widest)."""
    if not parts or any(p.sources != parts[0].sources for p in parts):
        raise ConfigError("concat_candidates needs at least one part, all from the same sources")
    width = max(p.shape[1] for p in parts)

    def pad(a: np.ndarray, value: float) -> np.ndarray:
        return np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, width - a.shape[-1])], constant_values=value)

    return Candidates(parts[0].sources, np.concatenate([pad(p.items, -1) for p in parts]),
                      np.concatenate([pad(p.scores, np.nan) for p in parts], axis=1),
                      np.concatenate([pad(p.ranks, np.nan) for p in parts], axis=1))
