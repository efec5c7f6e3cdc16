"""User groupings for per-group metric breakdowns: attribute values, age bands, activity buckets."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from recstrata.data.dataset import Dataset
from recstrata.errors import ConfigError

# MovieLens' own age bands
AGE_BANDS = (0, 18, 25, 35, 45, 50, 56, 200)


def attribute_groups(dataset: Dataset, attribute: str) -> np.ndarray:
    """One label per user (internal order) from a user-table column; numeric ages become bands."""
    if attribute not in dataset.users.columns:
        raise ConfigError(
            f"user attribute {attribute!r} not in {dataset.name}; available: "
            f"{[c for c in dataset.users.columns if c != 'user_id']}"
        )
    col = dataset.users[attribute]
    if attribute == "age" or pd.api.types.is_numeric_dtype(col):
        values = pd.to_numeric(col, errors="coerce").astype("float64")
        labels = pd.cut(values, bins=AGE_BANDS, right=False,
                        labels=[f"{a}-{b - 1}" if b < 200 else f"{a}+" for a, b in zip(AGE_BANDS, AGE_BANDS[1:])])
        return labels.astype(object).where(labels.notna(), "unknown").to_numpy(dtype=object).astype(str)
    return col.astype(object).where(col.notna(), "unknown").to_numpy().astype(str)


def activity_groups(train: Dataset, n_buckets: int = 4) -> np.ndarray:
    """One label per user by number of training interactions, in quantile buckets (e.g. 'q1: 1-32')."""
    counts = np.bincount(train.interactions.user, minlength=train.n_users)
    edges = np.unique(np.quantile(counts, np.linspace(0, 1, n_buckets + 1)))
    bucket = np.clip(np.searchsorted(edges, counts, side="right") - 1, 0, len(edges) - 2) if len(edges) > 1 else np.zeros_like(counts)
    labels = []
    n_labels = max(len(edges) - 1, 1)
    for b in range(n_labels):
        if len(edges) < 2:
            labels.append(f"q1: {int(counts.min())}-{int(counts.max())}")
            continue
        # bucket b holds the integer counts in [edge_b, edge_b+1); the last also holds the maximum
        lo = math.ceil(edges[b])
        hi = int(edges[b + 1]) if b == n_labels - 1 else math.ceil(edges[b + 1]) - 1
        labels.append(f"q{b + 1}: {lo}-{hi}")
    return np.array(labels, dtype=object)[bucket].astype(str)


def breakdown(per_user: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, dict[str, float]]:
    """Mean of every per-user metric within each group; ``n_users`` counts the group."""
    out: dict[str, dict[str, float]] = {}
    for g in sorted(set(labels.tolist())):
        mask = labels == g
        row = {"n_users": float(mask.sum())}
        for name, values in per_user.items():
            v = values[mask]
            finite = v[~np.isnan(v)]
            row[name] = float(finite.mean()) if finite.size else float("nan")
        out[g] = row
    return out
