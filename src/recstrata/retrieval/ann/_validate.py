"""Input checks for the vector index: every failure is a ConfigError naming the input and the fix."""

from __future__ import annotations

from typing import Any

import numpy as np

from recstrata.errors import ConfigError


def as_vectors(vectors: Any, *, name: str, dim: int | None = None) -> np.ndarray:
    """Return ``vectors`` as a C-contiguous float32 matrix (n, dim), refusing NaN/inf and wrong widths."""
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a numeric matrix of shape (n, dim): {exc}") from exc
    if arr.ndim == 1 and name == "queries":
        arr = arr[None, :]  # one query given as a flat vector
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ConfigError(
            f"{name} has shape {arr.shape}; pass a non-empty 2-D array of shape (n, dim), one row per vector."
        )
    if dim is not None and arr.shape[1] != dim:
        raise ConfigError(
            f"{name} have dimension {arr.shape[1]} but the index was built with dim={dim}; "
            f"embed them with the same model that produced the indexed vectors."
        )
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ConfigError(
            f"{name} contain NaN or infinite values in {rows.size} row(s), first at row {int(rows[0])}; "
            "drop or repair those rows before building/searching."
        )
    return np.ascontiguousarray(arr)


def as_ids(ids: Any, n: int) -> np.ndarray:
    """External ids: int64, one per vector, unique and non-negative (-1 pads short result rows)."""
    if ids is None:
        return np.arange(n, dtype=np.int64)
    arr = np.asarray(ids)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ConfigError(
            f"ids has shape {arr.shape} but there are {n} vectors; pass one id per vector row (or ids=None "
            "to use row numbers)."
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"ids must be integers, got dtype {arr.dtype}; map your item keys to int64 first.")
    arr = arr.astype(np.int64, copy=False)
    if n and arr.min() < 0:
        raise ConfigError(
            f"ids contain negative value {int(arr.min())}; ids must be >= 0 because -1 marks empty "
            "result slots."
        )
    uniq, counts = np.unique(arr, return_counts=True)
    if uniq.size != n:
        dup = uniq[counts > 1]
        raise ConfigError(
            f"ids contain {dup.size} duplicate value(s), e.g. {dup[:5].tolist()}; every vector needs a "
            "unique id."
        )
    return arr


def check_k(k: Any, count: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ConfigError(f"k must be a positive integer, got {k!r}.")
    if k <= 0:
        raise ConfigError(f"k={k} must be >= 1: ask for at least one result.")
    if k > count:
        raise ConfigError(
            f"k={k} is larger than the number of indexed vectors ({count}); pass k <= {count}."
        )
    return int(k)


def positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)
